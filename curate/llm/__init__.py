"""LLM access through any OpenAI-compatible endpoint, and a fake endpoint for tests and demos."""

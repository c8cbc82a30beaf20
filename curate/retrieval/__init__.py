"""Retrieval data: (query, passage) pairs, hard-negative mining, and the LLM judges ARHN uses."""

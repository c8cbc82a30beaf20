"""Generate curate's sample corpora with planted, documented label noise (deterministic under --seed).

    python sample_data/generate.py            # writes sample_data/{relation,classification,retrieval,semeval_noisy,wnut17_noisy,wnut17_tokens}

See sample_data/README.md for what each file holds and how the noise was planted.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEMEVAL = HERE.parent.parent / "shared" / "data" / "semeval2010_task8"
WNUT17 = HERE.parent.parent / "shared" / "data" / "wnut17"

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph
Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald
Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah
Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob Kathleen Gary Angela
Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott Samantha Brandon Katherine
Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack
Catherine Dennis Heather Jerry Diane Tyler Olivia Aaron Julie Jose Joyce Adam Victoria Nathan Ruth Henry Virginia
Zachary Lauren Douglas Kelly Peter Christina Kyle Joan Noah Evelyn Ethan Judith Jeremy Andrea Walter Hannah Christian
Megan Keith Cheryl Roger Jacqueline Terry Martha Austin Madison Sean Teresa Gerald Kathryn Carl Sara Harold Janice
Dylan Jean Arthur Alice Lawrence Abigail Jordan Sophia Jesse Judy Bryan Julia Billy Marie Bruce Denise Gabriel Amber
Joe Doris Logan Marilyn Alan Danielle Juan Beverly Albert Isabella Willie Theresa Elijah Diana Wayne Natalie Randy
Brittany Vincent Charlotte Mason Rose Roy Alexis Ralph Kayla Bobby Lori Russell Tamar Kofi Aiko Yusuf Ingrid Mateo
Priya Dmitri Leila Hiroshi Amara Sven Chiara Tomas Nadia Rafael Mei Olumide Anika Lars Fatima Pavel Ines""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks
Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez
Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero
Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis
Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells
Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder
Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Okafor
Tanaka Novak Lindqvist Haddad Kowalski Petrov Rossi Dubois Yamamoto Mensah Ivanova Bergstrom Achebe Moreau""".split()
ORG_A = """Northwind Bluefin Redwood Silverline Ironbridge Cobalt Evergreen Summit Harbor Granite Meridian Pioneer Beacon
Falcon Keystone Lakeside Crescent Orion Sterling Atlas Vanguard Horizon Juniper Maple Quantum Riverstone Sapphire
Tidewater Westbrook Aurora Cedar Pinnacle Copperfield Brightwater Halcyon Monarch Ridgeback Stonegate Larkspur Everest
Kestrel Oakmont Sunfield Bayview Highland Trident Zenith Polaris Cypress Windmere""".split()
ORG_B = """Capital Logistics Pharmaceuticals Holdings Media Energy Systems Foods Airlines Motors Robotics Insurance Bank
Partners Labs Analytics Textiles Shipping Mining Telecom Software Group Foundation Institute University Studios
Chemicals Brewing Hospital Networks Semiconductors Publishing Consulting Ventures""".split()
CITIES = """Boston Chicago Denver Seattle Atlanta Houston Phoenix Portland Austin Dallas Detroit Miami Toronto Montreal
Vancouver London Manchester Leeds Glasgow Dublin Paris Lyon Marseille Berlin Munich Hamburg Vienna Zurich Geneva
Madrid Barcelona Lisbon Rome Milan Naples Athens Istanbul Cairo Lagos Nairobi Accra Johannesburg Mumbai Delhi
Bangalore Karachi Dhaka Bangkok Hanoi Manila Jakarta Singapore Seoul Busan Tokyo Osaka Beijing Shanghai Shenzhen
Sydney Melbourne Auckland Lima Bogota Santiago Quito Caracas Havana Oslo Stockholm Helsinki Copenhagen Warsaw Prague
Budapest Bucharest Kiev Minsk Riga""".split()
COUNTRIES = """France Germany Spain Italy Portugal Greece Turkey Egypt Nigeria Kenya Ghana India Pakistan Bangladesh
Thailand Vietnam Indonesia Japan China Australia Brazil Argentina Chile Peru Colombia Mexico Canada Norway Sweden
Finland Denmark Poland Hungary Romania Ukraine Ireland Scotland Switzerland Austria Belgium Netherlands Morocco
Senegal Ethiopia Tanzania Uganda Malaysia Singapore Philippines Korea""".split()
TITLES = ["chief executive", "chairman", "president", "spokeswoman", "spokesman", "director", "chief financial officer",
          "general counsel", "senior editor", "lead engineer", "professor", "treasurer", "founder", "managing partner",
          "head coach", "chief scientist", "ambassador", "senator", "mayor", "governor", "vice president",
          "chief operating officer", "researcher", "analyst", "correspondent", "producer", "curator", "architect"]
MONTHS = "January February March April May June July August September October November December".split()

# Relation -> (subject type, object type, templates). {S} and {O} are the pair; {X} another person, {C} a city,
# {Y} a year; extra clauses come from FILLERS.
RELATIONS: dict[str, tuple[str, str, list[str]]] = {
    "per:employee_of": ("PERSON", "ORGANIZATION", [
        "{S} , who works for {O} , said the results were encouraging",
        "{S} , an engineer at {O} , presented the new design",
        "{O} employee {S} told reporters that the plant would stay open",
        "According to {S} of {O} , demand rose sharply last quarter",
        "{S} has been working at {O} since {Y}",
        "{S} joined {O} in {Y} after several years abroad",
        "Speaking for {O} , {S} denied the allegations",
        "{S} , a longtime analyst with {O} , expects prices to fall",
        "{O} hired {S} to lead its expansion into new markets",
        "{S} is on the payroll of {O} , records show",
    ]),
    "per:title": ("PERSON", "TITLE", [
        "{S} , the {O} of the company , resigned on Friday",
        "{O} {S} announced the merger in a brief statement",
        "The board named {S} as its new {O}",
        "{S} served as {O} for nearly a decade",
        "{S} , who is {O} of the regional office , disputed the figures",
        "As {O} , {S} oversaw the restructuring",
        "{S} was promoted to {O} last spring",
        "Former {O} {S} testified before the committee",
    ]),
    "per:city_of_birth": ("PERSON", "CITY", [
        "{S} was born in {O} in {Y}",
        "Born in {O} , {S} moved abroad as a teenager",
        "{S} , a native of {O} , returned home for the ceremony",
        "{O} - born {S} won the award on Sunday",
        "{S} grew up in {O} , where {S_PRON} was born",
        "The {O} native {S} has written three novels",
        "{S} came into the world in {O} during the winter of {Y}",
    ]),
    "per:countries_of_residence": ("PERSON", "COUNTRY", [
        "{S} , who lives in {O} , declined to comment",
        "{S} has resided in {O} for more than twenty years",
        "{S} now makes {S_PRON_POSS} home in {O}",
        "Now living in {O} , {S} continues to paint",
        "{S} settled in {O} after retiring",
        "{S} , a resident of {O} , filed the lawsuit",
        "{S} moved permanently to {O} in {Y}",
    ]),
    "per:spouse": ("PERSON", "PERSON", [
        "{S} and {S_PRON_POSS} husband {O} attended the gala",
        "{S} married {O} in {Y}",
        "{S} , the wife of {O} , spoke at the rally",
        "{O} and {S} , who wed in {Y} , live on a farm",
        "{S} is survived by {S_PRON_POSS} spouse , {O}",
        "{S} and {O} celebrated their tenth wedding anniversary",
        "{S} 's husband {O} managed the campaign",
    ]),
    "per:age": ("PERSON", "NUMBER", [
        "{S} , {O} , was arrested on Monday",
        "{S} , aged {O} , completed the marathon",
        "{S} died at the age of {O}",
        "The {O} - year - old {S} won the final",
        "{S} , who is {O} years old , plans to retire",
        "At {O} , {S} is the youngest member of the board",
    ]),
    "org:founded_by": ("ORGANIZATION", "PERSON", [
        "{O} founded {S} in a garage in {Y}",
        "{S} was established by {O} in {Y}",
        "{S} , which {O} started with two friends , now employs thousands",
        "{O} , the founder of {S} , stepped down",
        "{S} was created by {O} after a long career in banking",
        "Entrepreneur {O} launched {S} with a small loan",
        "{O} co-founded {S} and served as its first chairman",
    ]),
    "org:city_of_headquarters": ("ORGANIZATION", "CITY", [
        "{S} , which is based in {O} , reported higher profits",
        "{O} - based {S} cut hundreds of jobs",
        "{S} is headquartered in {O}",
        "{S} moved its headquarters to {O} in {Y}",
        "At its {O} headquarters , {S} unveiled a new product",
        "{S} , headquartered in {O} , denied wrongdoing",
        "The {O} company {S} filed for bankruptcy",
    ]),
    "org:founded": ("ORGANIZATION", "DATE", [
        "{S} was founded in {O}",
        "Founded in {O} , {S} grew into a regional leader",
        "{S} , established in {O} , has offices in six countries",
        "{S} has been in business since {O}",
        "{S} opened its doors in {O}",
        "Since its founding in {O} , {S} has changed owners twice",
    ]),
    "per:date_of_death": ("PERSON", "DATE", [
        "{S} died on {O} at a hospital",
        "{S} passed away on {O} after a long illness",
        "{S} , who died on {O} , was buried in a private ceremony",
        "{S} was killed on {O} in a car accident",
        "On {O} , {S} died peacefully at home",
        "The death of {S} on {O} shocked the community",
    ]),
}
# Sentences where the pair co-occurs without the relation (the bulk of TACRED-like data).
NEGATIVE_TEMPLATES: dict[tuple[str, str], list[str]] = {
    ("PERSON", "ORGANIZATION"): [
        "{S} criticized {O} for its handling of the recall",
        "{S} sued {O} over unpaid royalties",
        "{S} , a critic of {O} , called for an inquiry",
        "{O} rejected the offer made by {S}",
        "{S} bought shares of {O} last year",
        "{S} visited {O} to discuss the contract",
        "Regulators questioned {S} about a deal with {O}",
        "{S} left {O} after a dispute with the board",
        "{S} praised {O} for its charity work",
        "{S} will testify against {O} next week",
    ],
    ("PERSON", "TITLE"): [
        "{S} met the {O} of the rival firm on Tuesday",
        "{S} wants to replace the current {O}",
        "{S} complained to the {O} about the delays",
        "The {O} thanked {S} for the donation",
    ],
    ("PERSON", "CITY"): [
        "{S} visited {O} for a conference",
        "{S} flew to {O} on Thursday",
        "{S} gave a speech in {O} last week",
        "{S} will open a restaurant in {O}",
        "{S} spent the summer vacation in {O}",
        "Police in {O} arrested {S} on Friday",
    ],
    ("PERSON", "COUNTRY"): [
        "{S} toured {O} to promote the book",
        "{S} criticized the government of {O}",
        "{S} was deported from {O} in {Y}",
        "{S} negotiated a trade deal with {O}",
        "{S} will represent the team against {O}",
    ],
    ("PERSON", "PERSON"): [
        "{S} met {O} at the conference",
        "{S} defeated {O} in the final round",
        "{S} criticized {O} in an interview",
        "{S} and {O} co-authored a report on climate policy",
        "{S} succeeded {O} as head of the department",
        "{S} sued {O} for defamation",
        "{S} and {O} debated the budget on television",
    ],
    ("PERSON", "NUMBER"): [
        "{S} scored {O} points in the game",
        "{S} won {O} medals over a long career",
        "{S} hired {O} new staff",
        "{S} wrote {O} books about the war",
    ],
    ("ORGANIZATION", "PERSON"): [
        "{S} fired {O} after the scandal",
        "{S} sponsored {O} at the tournament",
        "{S} sued {O} for breach of contract",
        "{S} awarded {O} a research grant",
        "{S} interviewed {O} for the position but hired someone else",
    ],
    ("ORGANIZATION", "CITY"): [
        "{S} opened a small branch in {O}",
        "{S} sponsored a festival in {O}",
        "{S} closed its {O} warehouse",
        "{S} is considering a factory in {O}",
        "{S} sells most of its products in {O}",
    ],
    ("ORGANIZATION", "DATE"): [
        "{S} reported losses on {O}",
        "{S} will hold its annual meeting on {O}",
        "{S} issued a recall on {O}",
        "Shares of {S} fell sharply on {O}",
    ],
    ("PERSON", "DATE"): [
        "{S} gave a lecture on {O}",
        "{S} was interviewed on {O}",
        "{S} announced the decision on {O}",
        "{S} will return to the stage on {O}",
        "{S} signed the contract on {O}",
    ],
}
FILLERS_PRE = ["", "", "", "", "On Tuesday ,", "In a statement ,", "Last year ,", "Meanwhile ,", "According to officials ,",
               "In an interview ,", "Separately ,", "As expected ,", "Earlier this month ,", "In {C} ,",
               "Two days later ,", "Despite the rain ,", "At a press conference ,"]
FILLERS_POST = ["", "", "", "", ", officials said", ", according to court documents", ", the newspaper reported",
                "in {C}", ", a source close to the matter said", "during the annual meeting",
                ", while {X} watched", ", as {X} had predicted", "before leaving for {C}", ", two people said",
                ", in a move that surprised analysts", "last month", ", sources told reporters"]


def _person(rng: random.Random) -> list[str]:
    return [rng.choice(FIRST), rng.choice(LAST)]


def _org(rng: random.Random) -> list[str]:
    return [rng.choice(ORG_A), rng.choice(ORG_B)] if rng.random() < 0.8 else [rng.choice(ORG_A), rng.choice(ORG_A), rng.choice(ORG_B)]


def _date(rng: random.Random) -> list[str]:
    return [rng.choice(MONTHS), str(rng.randint(1, 28)), ",", str(rng.randint(1950, 2024))] if rng.random() < 0.6 else [str(rng.randint(1900, 2020))]


def entity(kind: str, rng: random.Random) -> list[str]:
    """Tokens of a random entity of the given type."""
    return {
        "PERSON": lambda: _person(rng),
        "ORGANIZATION": lambda: _org(rng),
        "CITY": lambda: [rng.choice(CITIES)],
        "COUNTRY": lambda: [rng.choice(COUNTRIES)],
        "TITLE": lambda: rng.choice(TITLES).split(),
        "NUMBER": lambda: [str(rng.randint(18, 95))],
        "DATE": lambda: _date(rng),
    }[kind]()


def render(template: str, subj: list[str], obj: list[str], rng: random.Random) -> dict:
    """Fill a template with a filler clause, returning TACRED token fields."""
    pron = rng.choice(["she", "he"])
    pre = rng.choice(FILLERS_PRE)
    post = rng.choice(FILLERS_POST)
    full = " ".join(p for p in (pre, template, post) if p) + " ."
    full = full.replace("{S_PRON_POSS}", "her" if pron == "she" else "his").replace("{S_PRON}", pron)
    tokens: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    for piece in full.split():
        if piece in ("{S}", "{O}"):
            ent = subj if piece == "{S}" else obj
            role = "subj" if piece == "{S}" else "obj"
            if role in spans:  # a second mention: plain tokens, the span stays on the first
                tokens.extend(ent)
                continue
            spans[role] = (len(tokens), len(tokens) + len(ent) - 1)
            tokens.extend(ent)
        elif piece == "{X}":
            tokens.extend(_person(rng))
        elif piece == "{C}":
            tokens.append(rng.choice(CITIES))
        elif piece == "{Y}":
            tokens.append(str(rng.randint(1960, 2023)))
        else:
            tokens.append(piece)
    return {"token": tokens, "subj_start": spans["subj"][0], "subj_end": spans["subj"][1],
            "obj_start": spans["obj"][0], "obj_end": spans["obj"][1]}


def relation_example(rng: random.Random, positive: bool) -> tuple[str, dict]:
    """One TACRED record: a relation sentence, or a no_relation pair."""
    if positive:
        rel = rng.choice(list(RELATIONS))
        st, ot, templates = RELATIONS[rel]
    else:
        rel = "no_relation"
        st, ot = rng.choice(list(NEGATIVE_TEMPLATES))
        templates = NEGATIVE_TEMPLATES[(st, ot)]
        # A third of negatives reuse a relation sentence whose pair is not the related one (hard negatives).
        if rng.random() < 0.33:
            return rel, hard_negative(rng)
    subj, obj = entity(st, rng), entity(ot, rng)
    while obj == subj:
        obj = entity(ot, rng)
    rec = render(rng.choice(templates), subj, obj, rng)
    rec.update(subj_type=st, obj_type=ot)
    return rel, rec


def hard_negative(rng: random.Random) -> dict:
    """A relation sentence plus a bystander clause; the pair (bystander, object) holds no relation."""
    rel = rng.choice(list(RELATIONS))
    st, ot, templates = RELATIONS[rel]
    subj, obj = entity(st, rng), entity(ot, rng)
    rec = render(rng.choice(templates), subj, obj, rng)
    bystander = _person(rng)
    lead = rng.choice(["told", "said to", "reminded", "assured", "wrote to"])
    inner = list(rec["token"])
    if rec["subj_start"] != 0 and rec["obj_start"] != 0:
        inner[0] = inner[0].lower()  # "... told reporters that last year , ..."
    tokens = bystander + [lead, "reporters", "that"] + inner
    shift = len(bystander) + 3
    return {"token": tokens, "subj_start": 0, "subj_end": len(bystander) - 1,
            "obj_start": rec["obj_start"] + shift, "obj_end": rec["obj_end"] + shift,
            "subj_type": "PERSON", "obj_type": ot}


def make_relation(out: Path, rng: random.Random, sizes: dict[str, int], neg_share: float,
                  fn_rate: float, wrong_rate: float, patch_rate: float = 0.06) -> dict:
    """TACRED JSON train/dev/test with planted noise in train, gold.jsonl listing every planted error."""
    out.mkdir(parents=True, exist_ok=True)
    gold, stats, patch = [], {}, {}
    for split, n in sizes.items():
        records = []
        for i in range(n):
            rel, rec = relation_example(rng, positive=rng.random() >= neg_share)
            ex_id = f"{split}-{i:05d}"
            label = rel
            if split == "train" and rel != "no_relation":
                r = rng.random()
                if r < fn_rate:
                    label = "no_relation"
                    gold.append({"id": ex_id, "noisy_label": label, "true_label": rel, "kind": "false_negative"})
                elif r < fn_rate + wrong_rate:
                    label = rng.choice([x for x in RELATIONS if x != rel])
                    gold.append({"id": ex_id, "noisy_label": label, "true_label": rel, "kind": "wrong_relation"})
            records.append({"id": ex_id, "docid": f"DOC_{rng.randint(1000, 9999)}", **rec, "relation": label})
            if split == "train" and rng.random() < patch_rate:
                patch[ex_id] = rel  # a re-annotation: the true label, whatever the noisy one says
        (out / f"{split}.json").write_text(
            "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n", encoding="utf-8")
        stats[split] = {"examples": n, "negatives": sum(r["relation"] == "no_relation" for r in records)}
    _write_jsonl(out / "gold.jsonl", gold)
    (out / "train_patch.json").write_text(json.dumps(patch, indent=1) + "\n", encoding="utf-8")
    stats["planted"] = {k: sum(g["kind"] == k for g in gold) for k in ("false_negative", "wrong_relation")}
    stats["patch"] = {"entries": len(patch), "corrects": sum(g["id"] in patch for g in gold)}
    return stats


TOPICS = {
    "sports": (["striker", "goalkeeper", "coach", "referee", "midfielder", "sprinter", "captain", "rookie"],
               ["scored", "missed", "defended", "won", "lost", "trained for", "qualified for", "was injured before"],
               ["the final", "the derby", "the championship", "the relay", "a penalty shootout", "the season opener",
                "the league match", "the marathon"]),
    "business": (["investors", "the startup", "shareholders", "the retailer", "analysts", "the bank", "the airline",
                  "the supplier"],
                 ["reported", "cut", "raised", "forecast", "acquired", "announced", "delayed", "restructured"],
                 ["quarterly earnings", "its dividend", "a merger", "new funding", "prices", "a hiring freeze",
                  "the annual budget", "its bond issue"]),
    "politics": (["the senator", "the minister", "voters", "the parliament", "the governor", "the opposition",
                  "the mayor", "lawmakers"],
                 ["vetoed", "debated", "passed", "rejected", "campaigned on", "proposed", "blocked", "endorsed"],
                 ["the election law", "a tax reform", "the coalition deal", "the referendum", "a new bill",
                  "the budget vote", "sanctions", "the health plan"]),
    "science": (["researchers", "the telescope", "biologists", "the lab", "physicists", "the rover", "chemists",
                 "the team"],
                ["discovered", "measured", "sequenced", "observed", "modelled", "detected", "synthesized", "mapped"],
                ["a new exoplanet", "the genome", "dark matter", "a protein", "gravitational waves", "the reef",
                 "a vaccine candidate", "ancient ice"]),
    "entertainment": (["the director", "the band", "fans", "the actress", "the studio", "critics", "the singer",
                       "the festival"],
                      ["premiered", "released", "praised", "cancelled", "remade", "streamed", "toured with",
                       "nominated"],
                      ["a new album", "the sequel", "the documentary", "a comedy series", "the musical",
                       "the soundtrack", "a horror film", "the world tour"]),
}
CLASS_TAILS = ["on Monday", "after months of speculation", "despite criticism", "to widespread surprise",
               "for the first time", "earlier than planned", "according to sources", "in a short statement",
               "amid growing pressure", "", "", ""]


def make_classification(out: Path, rng: random.Random, n: int, flip_rate: float) -> dict:
    """Topic sentences with planted label flips and gold."""
    out.mkdir(parents=True, exist_ok=True)
    rows, gold = [], []
    labels = list(TOPICS)
    for i in range(n):
        topic = rng.choice(labels)
        subj, verb, obj = (rng.choice(part) for part in TOPICS[topic])
        # Some sentences borrow an object from another topic, so neighbours are informative but not perfect.
        if rng.random() < 0.15:
            obj = rng.choice(TOPICS[rng.choice(labels)][2])
        text = " ".join(p for p in (subj.capitalize(), verb, obj, rng.choice(CLASS_TAILS)) if p) + "."
        label = topic
        if rng.random() < flip_rate:
            label = rng.choice([t for t in labels if t != topic])
            gold.append({"id": f"c{i:05d}", "noisy_label": label, "true_label": topic, "kind": "flip"})
        rows.append({"id": f"c{i:05d}", "text": text, "label": label})
    _write_jsonl(out / "train.jsonl", rows)
    _write_jsonl(out / "gold.jsonl", gold)
    return {"examples": n, "planted": len(gold)}


FACTS = {
    "headquarters": ("Where is {E} headquartered?", "{E} is headquartered in {V}.", "CITIES"),
    "founded": ("When was {E} founded?", "{E} was founded in {V}.", "YEAR"),
    "ceo": ("Who is the chief executive of {E}?", "The chief executive of {E} is {V}.", "PERSON"),
    "employees": ("How many people does {E} employ?", "{E} employs about {V} people.", "COUNT"),
    "product": ("What does {E} make?", "{E} is best known for making {V}.", "PRODUCT"),
}
PRODUCTS = ["electric buses", "hearing aids", "solar panels", "frozen dumplings", "cargo drones", "running shoes",
            "insulin pumps", "board games", "wind turbines", "microchips", "bicycles", "water filters"]
PARAPHRASE = {
    "headquarters": "Its main offices, home to the leadership of {E}, sit in {V}.",
    "founded": "{E} traces its origins back to {V}, the year its first workshop opened.",
    "ceo": "{V} has run {E} as chief executive since the last shake-up.",
    "employees": "With a workforce of roughly {V}, {E} is a major employer.",
    "product": "Most of the revenue of {E} comes from {V}.",
}
PASSAGE_FILLER = ["It was covered widely in the trade press.", "Analysts expect further growth.",
                  "The company declined to comment on rumours.", "Its shares trade on two exchanges.",
                  "A new annual report is due in spring.", "Several competitors operate in the same market."]


def make_retrieval(out: Path, rng: random.Random, n_entities: int, negatives: int, fn_rate: float) -> dict:
    """Queries, passages, positives and mined negatives with planted false negatives, in triplet and BEIR layouts."""
    from curate.ingest.retrieval import content_id, pair_id

    out.mkdir(parents=True, exist_ok=True)
    beir = out / "beir"
    (beir / "qrels").mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels, run, triplets, gold = {}, {}, [], [], [], []
    entities = sorted({" ".join(_org(rng)) for _ in range(n_entities * 2)})
    rng.shuffle(entities)
    entities = entities[:n_entities]
    facts_of: dict[str, dict[str, str]] = {}
    for e in entities:
        facts_of[e] = {
            "headquarters": rng.choice(CITIES), "founded": str(rng.randint(1890, 2020)),
            "ceo": " ".join(_person(rng)), "employees": f"{rng.randint(2, 90) * 100:,}",
            "product": rng.choice(PRODUCTS),
        }
    pid_of: dict[str, str] = {}

    def passage(text: str) -> str:
        if text not in pid_of:
            pid_of[text] = f"d{len(pid_of):05d}"
            corpus[pid_of[text]] = text
        return pid_of[text]

    for e in entities:
        for fact, value in facts_of[e].items():
            passage(FACTS[fact][1].format(E=e, V=value) + " " + rng.choice(PASSAGE_FILLER))
    for qi, e in enumerate(entities):
        fact = rng.choice(list(FACTS))
        qid = f"q{qi:04d}"
        q_text = FACTS[fact][0].format(E=e)
        queries[qid] = q_text
        value = facts_of[e][fact]
        pos_text = next(t for t in pid_of if t.startswith(FACTS[fact][1].format(E=e, V=value)))
        pos = pid_of[pos_text]
        qrels.append((qid, pos, 1))
        # Mined candidates: other facts about the same entity, the same fact about other entities.
        cands = [pid_of[t] for t in pid_of if t.startswith(e) and pid_of[t] != pos]
        others = rng.sample([x for x in entities if x != e], 3)
        cands += [pid_of[next(t for t in pid_of if t.startswith(FACTS[fact][1].format(E=o, V=facts_of[o][fact])))]
                  for o in others]
        rng.shuffle(cands)
        cands = cands[:negatives]
        if rng.random() < fn_rate:
            fn = passage(PARAPHRASE[fact].format(E=e, V=value) + " " + rng.choice(PASSAGE_FILLER))
            cands[rng.randrange(len(cands))] = fn
            gold.append({"id": pair_id(qid, fn), "triplets_id": pair_id(content_id("q", q_text), content_id("p", corpus[fn])),
                         "noisy_label": "negative", "true_label": "positive", "kind": "false_negative",
                         "query": q_text, "passage": corpus[fn]})
        for rank, pid in enumerate(cands, start=1):
            run.append(f"{qid} Q0 {pid} {rank} {round(1.0 - rank * 0.05, 3)} mined")
        triplets.append({"anchor": q_text, "positive": corpus[pos],
                         **{f"negative_{i}": corpus[p] for i, p in enumerate(cands, start=1)}})
    _write_jsonl(beir / "corpus.jsonl", [{"_id": k, "title": "", "text": v} for k, v in corpus.items()])
    _write_jsonl(beir / "queries.jsonl", [{"_id": k, "text": v} for k, v in queries.items()])
    (beir / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{p}\t{s}\n" for q, p, s in qrels))
    (beir / "run.trec").write_text("\n".join(run) + "\n")
    _write_jsonl(out / "triplets.jsonl", triplets)
    _write_jsonl(out / "gold.jsonl", gold)
    return {"queries": len(queries), "passages": len(corpus), "planted": len(gold)}


_REL = re.compile(r"^(?P<rel>[\w-]+)\((?P<a>e[12]),(?P<b>e[12])\)$")


def make_semeval_noisy(out: Path, rng: random.Random, fn_rate: float, wrong_rate: float) -> dict:
    """The real SemEval-2010 Task 8 train split with noise planted on real sentences."""
    src = SEMEVAL / "TRAIN_FILE.TXT"
    if not src.exists():
        return {"skipped": f"{src} not found"}
    out.mkdir(parents=True, exist_ok=True)
    blocks = [b for b in src.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n\n") if b.strip()]
    labels = sorted({b.split("\n")[1].strip() for b in blocks} - {"Other"})
    gold, lines = [], []
    for b in blocks:
        head, label, *rest = b.split("\n")
        ex_id = head.split("\t")[0]
        new = label
        if label != "Other":
            r = rng.random()
            if r < fn_rate:
                new = "Other"
                gold.append({"id": ex_id, "noisy_label": new, "true_label": label, "kind": "false_negative"})
            elif r < fn_rate + wrong_rate:
                new = rng.choice([x for x in labels if x != label])
                gold.append({"id": ex_id, "noisy_label": new, "true_label": label, "kind": "wrong_relation"})
        lines.append("\n".join([head, new, *rest]))
    (out / "train.txt").write_text("\n\n".join(lines) + "\n\n", encoding="utf-8")
    _write_jsonl(out / "gold.jsonl", gold)
    return {"examples": len(blocks), "planted": {k: sum(g["kind"] == k for g in gold)
                                                  for k in ("false_negative", "wrong_relation")}}


def _wnut_sentences(limit: int | None) -> list[list[list[str]]] | None:
    """The first limit (None: all) WNUT 2017 train sentences as [token, tag] rows (None when the file is absent);
    puts the checkout on sys.path for curate.spans."""
    import sys

    sys.path.insert(0, str(HERE.parent))
    src = WNUT17 / "wnut17train.conll"
    if not src.exists():
        return None
    return [[line.split("\t") for line in block.split("\n")]
            for block in src.read_text(encoding="utf-8").split("\n\n") if block.strip()][:limit]


def make_wnut_noisy(out: Path, rng: random.Random, n_sentences: int, swap_rate: float, drop_rate: float) -> dict:
    """The first real WNUT 2017 train sentences with noise planted on their entities: types swapped, and
    entities dropped to O (only those a reviewer could find: the ones that become untagged candidate spans)."""
    sentences = _wnut_sentences(n_sentences)
    if sentences is None:
        return {"skipped": f"{WNUT17 / 'wnut17train.conll'} not found"}
    from curate.spans import bio_spans, bio_tags, candidate_spans

    out.mkdir(parents=True, exist_ok=True)
    types = sorted({t for sent in sentences for _, _, t in bio_spans([c[1] for c in sent])})
    gold, blocks = [], []
    for n, sent in enumerate(sentences, start=1):
        tokens, tags = [c[0] for c in sent], [c[1] for c in sent]
        spans = bio_spans(tags)
        noisy = list(spans)
        for k, (s, e, t) in enumerate(spans):
            r = rng.random()
            ex_id = f"train-{n:06d}:{s}-{e}"
            if r < swap_rate:
                new = rng.choice([x for x in types if x != t])
                noisy[k] = (s, e, new)
                gold.append({"id": ex_id, "noisy_label": new, "true_label": t, "kind": "wrong_type"})
            elif r < swap_rate + drop_rate:
                rest = [x for j, x in enumerate(noisy) if j != k]
                if (s, e) in candidate_spans(tokens, rest):
                    noisy[k] = (s, e, "O")
                    gold.append({"id": ex_id, "noisy_label": "O", "true_label": t, "kind": "missed_entity"})
        new_tags = bio_tags(len(tokens), noisy)
        blocks.append("\n".join(f"{tok}\t{tag}" for tok, tag in zip(tokens, new_tags)))
    (out / "train.conll").write_text("".join(b + "\n\n" for b in blocks), encoding="utf-8")
    _write_jsonl(out / "gold.jsonl", gold)
    return {"sentences": len(sentences), "entities": sum(len(bio_spans([c[1] for c in s])) for s in sentences),
            "planted": {k: sum(g["kind"] == k for g in gold) for k in ("wrong_type", "missed_entity")}}


def _boundary(tokens: list[str], span: tuple[int, int, str], busy: set[int], rng: random.Random) -> tuple | None:
    """The span one word longer or shorter at either end (only onto an untagged word that is not punctuation)."""
    s, e, t = span
    options = []
    if e > s:
        options += [(s + 1, e, t), (s, e - 1, t)]
    for j, new in ((s - 1, (s - 1, e, t)), (e + 1, (s, e + 1, t))):
        if 0 <= j < len(tokens) and j not in busy and any(ch.isalnum() for ch in tokens[j]):
            options.append(new)
    return rng.choice(options) if options else None


def make_wnut_tokens(out: Path, rng: random.Random, swap_rate: float, boundary_rate: float, drop_rate: float,
                     spurious_rate: float) -> dict:
    """Every real WNUT 2017 train sentence with token-level noise planted, gold kept per error: types swapped,
    boundaries moved by one word, entities dropped to O (half of them also written in lower case, as tweets
    often are: no candidate span finds those), and untagged capitalised runs tagged as entities. One error at
    most per entity; the gold keeps the true and the noisy tags of each sentence."""
    sentences = _wnut_sentences(None)
    if sentences is None:
        return {"skipped": f"{WNUT17 / 'wnut17train.conll'} not found"}
    from curate.spans import bio_spans, bio_tags, candidate_spans

    out.mkdir(parents=True, exist_ok=True)
    types = sorted({t for sent in sentences for _, _, t in bio_spans([c[1] for c in sent])})
    gold, blocks = [], []
    for n, sent in enumerate(sentences, start=1):
        sid = f"train-{n:06d}"
        tokens, tags = [c[0] for c in sent], [c[1] for c in sent]
        spans = bio_spans(tags)
        noisy: list[tuple[int, int, str]] = []
        errors = []
        for k, (s, e, t) in enumerate(spans):
            r = rng.random()
            busy = {i for j, (a, b, _) in enumerate(spans) if j != k for i in range(a, b + 1)}
            busy |= {i for a, b, _ in noisy for i in range(a, b + 1)}
            words = " ".join(tokens[s : e + 1])
            if r < swap_rate:
                new = rng.choice([x for x in types if x != t])
                noisy.append((s, e, new))
                errors.append({"kind": "type", "span": [s, e], "true": t, "noisy": new})
            elif r < swap_rate + boundary_rate and (moved := _boundary(tokens, (s, e, t), busy, rng)):
                noisy.append(moved)
                errors.append({"kind": "boundary", "span": [s, e], "noisy_span": list(moved[:2]), "true": t})
            elif r < swap_rate + boundary_rate + drop_rate:
                if not words.islower() and rng.random() < 0.5:  # written in lower case, as tweets often are
                    tokens[s : e + 1] = [w.lower() for w in tokens[s : e + 1]]
                    words = words.lower()
                kind = "missed_lower" if words.islower() else "missed"
                errors.append({"kind": kind, "span": [s, e], "true": t, "noisy": "O"})
            else:
                noisy.append((s, e, t))
        free = candidate_spans(tokens, [*spans, *noisy])
        if free and rng.random() < spurious_rate:
            s, e = rng.choice(free)
            new = rng.choice(types)
            noisy.append((s, e, new))
            errors.append({"kind": "spurious", "span": [s, e], "true": "O", "noisy": new})
        new_tags = bio_tags(len(tokens), noisy)
        blocks.append("\n".join(f"{tok}\t{tag}" for tok, tag in zip(tokens, new_tags)))
        for err in errors:
            gold.append({"id": sid, **err, "true_tags": tags, "noisy_tags": new_tags})
    (out / "train.conll").write_text("".join(b + "\n\n" for b in blocks), encoding="utf-8")
    _write_jsonl(out / "gold.jsonl", gold)
    kinds = ("type", "boundary", "missed", "missed_lower", "spurious")
    return {"sentences": len(sentences), "entities": sum(len(bio_spans([c[1] for c in s])) for s in sentences),
            "planted": {k: sum(g["kind"] == k for g in gold) for k in kinds},
            "sentences_with_errors": len({g["id"] for g in gold})}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    """Write every sample corpus and print what was planted."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    summary = {
        "relation": make_relation(args.out / "relation", random.Random(args.seed),
                                  {"train": 5000, "dev": 1500, "test": 1500}, neg_share=0.78, fn_rate=0.10,
                                  wrong_rate=0.03),
        "classification": make_classification(args.out / "classification", random.Random(args.seed + 1), 3000, 0.08),
        "retrieval": make_retrieval(args.out / "retrieval", random.Random(args.seed + 2), 600, 5, 0.12),
        "semeval_noisy": make_semeval_noisy(args.out / "semeval_noisy", random.Random(args.seed + 3), 0.10, 0.03),
        "wnut17_noisy": make_wnut_noisy(args.out / "wnut17_noisy", random.Random(args.seed + 4), 1500, 0.05, 0.05),
        "wnut17_tokens": make_wnut_tokens(args.out / "wnut17_tokens", random.Random(args.seed + 5), 0.04, 0.05,
                                          0.05, 0.02),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Labelled English sentences for training the PII token tagger away from Presidio's templates.

Our own templates (support tickets, e-mails, chat), filled with values from the gazetteer that
scripts/build_gazetteer.py writes (Faker's names, cities, countries, street and company
suffixes) and a few word lists of our own, written in Presidio's format so `tandem pii train`
and `tandem pii eval` read it:

    python3 scripts/generate_pii_tagger_set.py ~/.cache/tandem/models/pii-gazetteer.tsv \
        /tmp/pii_own_templates.json --count 3000 --seed 7
    build/bin/tandem pii train --data /tmp/pii_own_templates.json --split all --epochs 20 --out /tmp/own.bin

Labelling: a person's full name is one PERSON span, an organisation one ORGANIZATION span, a
city, state or country outside an address one LOCATION span, and a postal address (house number
to country) one ADDRESS span. Presidio's generator splits some addresses into pieces; this set
does not, so a tagger trained on it is also measured against a different labelling convention.
"""
import argparse
import collections
import json
import random

TEMPLATES = [
    "Hi, I'm {person} and I need to change the delivery address to {address}.",
    "Our office moved to {address}; please update the invoice for {org}.",
    "{person} from {org} called about the order shipped to {city}, {country}.",
    "Can you forward the contract to {person} at {org}?",
    "I was born in {city} and now live in {country}.",
    "Ticket {number}: customer {person} reports the card was declined in {city}.",
    "Please contact {person} ({org}) about the visit to {city} next week.",
    "The parcel for {person} is waiting at {address}.",
    "{org} has opened a new branch in {city}.",
    "Send the samples to {org}, {address}.",
    "Thanks, {first}! See you in {city}.",
    "My colleague {person} works for {org} in {city}, {state}.",
    "We will be staying at {address} until Friday.",
    "Dear {title} {last}, your appointment in {city} is confirmed.",
    "Billing address:\n{person}\n{address_lines}",
    "Ship to: {address}",
    "{person} ({email_name}) asked whether {org} delivers to {country}.",
    "Reminder: the workshop with {person} takes place at {org} headquarters in {city}.",
    "hey, it's {first_lower}. can you pick me up at {address_lower}?",
    "The tenant, {person}, has lived at {address} since {year}.",
    "According to {org}, the shipment left {city} on Monday and reaches {country} next week.",
    "Please cancel my subscription. Name: {person}, address: {address}.",
    "{title} {person} will represent {org} at the conference in {city}.",
    "I moved from {city} to {city2} last year, so my new address is {address}.",
    "Who is the contact person at {org}? I think it's {first}.",
    "The {org} team in {country} reviewed the claim filed by {person}.",
]

ORG_WORDS = ["Blue Harbor", "Northwind", "Silverline", "Brightpath", "Redwood", "Cloudnine", "Summit Peak",
             "Greenfield", "Ironbridge", "Lakeside", "Starlight", "Oakmont", "Riverstone", "Clearwater",
             "Highland", "Sunrise", "Bluebird", "Pinecrest", "Golden Gate", "Westbrook", "Maple Leaf",
             "Quantum", "Vertex", "Nimbus", "Horizon", "Keystone", "Evergreen", "Atlas", "Beacon", "Crescent"]
ORG_TAILS = ["Logistics", "Analytics", "Consulting", "Software", "Health", "Foods", "Energy", "Labs",
             "Partners", "Systems", "Media", "Travel", "Insurance", "Robotics", "Studio", "Bank"]
UNITS = ["Apt. {n}", "Suite {n}", "Unit {n}", "Flat {n}", "Floor {n}"]
TITLES = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]


def read_gazetteer(path):
    kinds = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or "\t" not in line:
                continue
            kind, value = line.rstrip("\n").split("\t", 1)
            kinds[kind].append(value)
    return kinds


class Filler:
    def __init__(self, gazetteer, rng):
        self.g = gazetteer
        self.rng = rng
        self.ascii_first = [v for v in gazetteer["first_name"] if v.isascii()] or gazetteer["first_name"]
        self.ascii_last = [v for v in gazetteer["last_name"] if v.isascii()] or gazetteer["last_name"]

    def pick(self, values):
        return self.rng.choice(values)

    def first(self):
        # Mostly plain English-script names, some from every locale Faker has.
        return self.pick(self.ascii_first if self.rng.random() < 0.7 else self.g["first_name"])

    def last(self):
        return self.pick(self.ascii_last if self.rng.random() < 0.7 else self.g["last_name"])

    def person(self):
        return f"{self.first()} {self.last()}"

    def org(self):
        r = self.rng.random()
        if r < 0.35:
            return f"{self.last()} {self.pick(self.g['company_suffix'])}"
        if r < 0.5:
            return f"{self.last()}, {self.last()} and {self.last()}"
        if r < 0.75:
            return f"{self.pick(ORG_WORDS)} {self.pick(ORG_TAILS)}"
        return self.pick(ORG_WORDS)

    def street(self):
        name = self.last() if self.rng.random() < 0.6 else self.pick(self.g["city"])
        return f"{self.rng.randint(1, 9999)} {name} {self.pick(self.g['street_suffix'])}"

    def address_parts(self):
        parts = [self.street()]
        if self.rng.random() < 0.4:
            parts.append(self.pick(UNITS).format(n=self.rng.randint(1, 999)))
        city = self.pick(self.g["city"])
        parts.append(f"{city} {self.rng.randint(10000, 99999)}" if self.rng.random() < 0.5 else city)
        if self.rng.random() < 0.5:
            parts.append(self.pick(self.g["country"]))
        return parts


def fill(template, filler):
    """The sentence and its spans (code point offsets)."""
    values = {
        "person": ("PERSON", filler.person),
        "first": ("PERSON", filler.first),
        "first_lower": ("PERSON", lambda: filler.first().lower()),
        "last": ("PERSON", filler.last),
        "org": ("ORGANIZATION", filler.org),
        "city": ("LOCATION", lambda: filler.pick(filler.g["city"])),
        "city2": ("LOCATION", lambda: filler.pick(filler.g["city"])),
        "country": ("LOCATION", lambda: filler.pick(filler.g["country"])),
        "state": ("LOCATION", lambda: filler.pick(filler.g["state"])),
        "address": ("ADDRESS", lambda: ", ".join(filler.address_parts())),
        "address_lower": ("ADDRESS", lambda: ", ".join(filler.address_parts()).lower()),
        "address_lines": ("ADDRESS", lambda: "\n".join(filler.address_parts())),
        "title": (None, lambda: filler.pick(TITLES)),
        "number": (None, lambda: f"#{filler.rng.randint(1000, 99999)}"),
        "year": (None, lambda: str(filler.rng.randint(1990, 2024))),
        "email_name": (None, lambda: filler.first().lower() + "@example.com"),
    }
    text, spans, rest = "", [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        key, _, rest = after.partition("}")
        text += before
        entity_type, make = values[key]
        value = make()
        if entity_type:
            spans.append({"entity_type": entity_type, "entity_value": value, "start_position": len(text),
                          "end_position": len(text) + len(value)})
        text += value
    return {"full_text": text + rest, "spans": spans}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gazetteer")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    filler = Filler(read_gazetteer(args.gazetteer), rng)
    items = []
    for _ in range(args.count):
        template_id = rng.randrange(len(TEMPLATES))
        item = fill(TEMPLATES[template_id], filler)
        item["template_id"] = 1000 + template_id
        items.append(item)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()

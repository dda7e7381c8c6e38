#!/usr/bin/env python3
"""Generates tests/privacy/data/checksum_types.json: checksum-valid Chinese resident IDs, unified
social credit codes, UnionPay and international bank cards and IBANs in English and Chinese
sentences, each labelled (Presidio's format, with our type names upper-cased), next to look-alikes
whose checksum or birth date is wrong, which must not be detected. No public labelled set covers
these types (../shared/data/pii/README.md), so we make one; a fixed seed keeps it stable.

    python3 scripts/generate_pii_checksum_set.py > tests/privacy/data/checksum_types.json
"""
import json
import random

rng = random.Random(20261129)
REGIONS = ["110105", "310104", "440305", "510107", "330106", "420111", "610113", "120101"]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def resident_id(valid=True):
    year, month, day = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    bad_date = not valid and rng.random() < 0.5
    if bad_date:
        month, day = 2, 30  # no such date: the checksum holds, the ID is still invalid
    body = f"{rng.choice(REGIONS)}{year:04d}{month:02d}{day:02d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    if not valid and not bad_date:
        check = "10X98765432"[("10X98765432".index(check) + 1) % 11]
    return body + check


def credit_code(valid=True):
    body = rng.choice("159") + rng.choice("123") + rng.choice(REGIONS) + "".join(
        rng.choice(USCC_ALPHABET) for _ in range(9))
    check = (31 - sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS)) % 31) % 31
    if not valid:
        check = (check + 1) % 31
    return body + USCC_ALPHABET[check]


def luhn_complete(prefix, length, valid=True):
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    check = (10 - total % 10) % 10
    return digits + str(check if valid else (check + 1) % 10)


def card(valid=True):
    kind = rng.choice(["unionpay16", "unionpay19", "visa", "mastercard"])
    number = {"unionpay16": lambda: luhn_complete("62" + str(rng.randint(1000, 9999)), 16, valid),
              "unionpay19": lambda: luhn_complete("62" + str(rng.randint(1000, 9999)), 19, valid),
              "visa": lambda: luhn_complete("4", 16, valid),
              "mastercard": lambda: luhn_complete("5" + str(rng.randint(1, 5)), 16, valid)}[kind]()
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4)) if rng.random() < 0.5 else number


def iban(valid=True):
    country, length = rng.choice([("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24)])
    bban = "".join(str(rng.randint(0, 9)) for _ in range(length - 4))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = check % 97 + 1 if check < 97 else 2
    return f"{country}{check:02d}{bban}"


TEMPLATES = [
    ("en", "My ID number is {}, please update the record."),
    ("en", "The invoice was paid from {} yesterday."),
    ("en", "Send the refund to {} and confirm by mail."),
    ("zh", "我的身份证号是{}，请帮我核对。"),
    ("zh", "请把款项转到{}，谢谢。"),
    ("zh", "公司的登记号码为{}。"),
]
GENERATORS = {"CN_RESIDENT_ID": resident_id, "CN_CREDIT_CODE": credit_code, "CREDIT_CARD": card, "IBAN_CODE": iban}


def item(kind, valid):
    value = GENERATORS[kind](valid)
    _, template = rng.choice(TEMPLATES)
    text = template.format(value)
    start = text.index(value)
    spans = [{"entity_type": kind, "entity_value": value, "start_position": start,
              "end_position": start + len(value)}] if valid else []
    return {"full_text": text, "spans": spans}


items = [item(kind, valid) for kind in GENERATORS for valid in (True, False) for _ in range(60)]
rng.shuffle(items)
print(json.dumps(items, ensure_ascii=False, indent=1))

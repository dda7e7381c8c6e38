#!/usr/bin/env python3
"""Builds the name/place gazetteer the PII name detector loads (src/privacy/name_detector.h).

    scripts/build_gazetteer.py faker-40.54.0-py3-none-any.whl pii-gazetteer.tsv

Reads the word lists of the Faker package (MIT) straight from its pinned wheel: the wheel is
unpacked into a temporary directory and its provider modules imported from there, so nothing is
installed. Writes a sorted, deduplicated TSV `kind<TAB>value`, first line a `#` comment naming the
Faker version, and prints the count of each kind.
"""

import importlib
import os
import re
import sys
import tempfile
import unicodedata
import zipfile

# Locales whose person names are written in Latin, Greek or Cyrillic script: the English detector
# matches capitalised words, so names in other scripts would never be looked up.
NAME_LOCALES = [
    "az_AZ", "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "el_GR", "en", "en_GB", "en_IE", "en_IN",
    "en_KE", "en_NG", "en_NZ", "en_PK", "en_US", "es", "es_AR", "es_CA", "es_CL", "es_CO", "es_ES",
    "es_MX", "et_EE", "fi_FI", "fr_BE", "fr_CA", "fr_CH", "fr_FR", "fr_QC", "ga_IE", "ha_NG",
    "hr_HR", "hu_HU", "id_ID", "ig_NG", "is_IS", "it_IT", "lt_LT", "lv_LV", "nl_BE", "nl_NL",
    "no_NO", "pl_PL", "pt_BR", "pt_PT", "ro_RO", "ru_RU", "sk_SK", "sl_SI", "sv_SE", "sw", "tr_TR",
    "tw_GH", "uk_UA", "uz_UZ", "vi_VN", "yo_NG", "zu_ZA",
]
ZH_LOCALES = ["zh_CN", "zh_TW"]
# Country names in English: the detector reads English and Chinese text only.
COUNTRY_LOCALES = ["en_US", "en_GB"]

FIRST_NAME_ATTRS = ("first_names", "first_names_female", "first_names_male", "first_names_nonbinary",
                    "first_names_unisex", "first_romanized_names", "first_romanized_names_female",
                    "first_romanized_names_male", "middle_names")
LAST_NAME_ATTRS = ("last_names", "last_names_female", "last_names_male", "last_names_common",
                   "last_romanized_names", "unisex_last_names")
CITY_ATTRS = ("cities", "city_names", "real_city_names", "municipalities", "towns")
STATE_ATTRS = ("states", "provinces", "regions", "region_names", "counties", "departments", "estados")
STATE_ABBR_ATTRS = ("states_abbr", "provinces_abbr", "military_state_abbr")
STREET_SUFFIX_ATTRS = ("street_suffixes", "street_suffixes_long", "street_suffixes_short")
STREET_PREFIX_ATTRS = ("street_prefixes", "street_prefixes_long", "street_prefixes_short")


def values(provider, attr):
    """The words of a Faker list or weighted dict (keys are the words), or nothing."""
    data = getattr(provider, attr, None)
    if isinstance(data, dict):
        return [k for k in data if isinstance(k, str)]
    if isinstance(data, (list, tuple, set)):
        return [v for v in data if isinstance(v, str)]
    return []


def alphabetic(word):
    """Latin, Greek or Cyrillic letters with the joiners names use (space, hyphen, apostrophe, dot)."""
    if not word or not any(ch.isalpha() for ch in word):
        return False
    for ch in word:
        if ch in " -'’.":
            continue
        if not ch.isalpha():
            return False
        name = unicodedata.name(ch, "")
        if not name.startswith(("LATIN", "GREEK", "CYRILLIC")):
            return False
    return True


def han(word):
    return bool(word) and all("\u4e00" <= ch <= "\u9fff" for ch in word)


def provider(kind, locale):
    try:
        return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider
    except ModuleNotFoundError:
        return None


def collect():
    entries = set()

    def add(kind, words, keep):
        for w in words:
            w = unicodedata.normalize("NFC", w.strip())
            if keep(w) and "\t" not in w:
                entries.add((kind, w))

    address_locales = sorted(d for d in os.listdir(os.path.dirname(importlib.import_module(
        "faker.providers.address").__file__)) if not d.startswith("_") and d not in ZH_LOCALES)

    for loc in NAME_LOCALES:
        p = provider("person", loc)
        if p is None:
            continue
        for attr in FIRST_NAME_ATTRS:
            add("first_name", values(p, attr), alphabetic)
        for attr in LAST_NAME_ATTRS:
            add("last_name", values(p, attr), alphabetic)
        add("person_prefix", values(p, "prefixes") + values(p, "prefixes_male") + values(p, "prefixes_female"),
            alphabetic)
    for loc in ZH_LOCALES:
        p = provider("person", loc)
        add("zh_surname", values(p, "last_names"), han)
        add("zh_given_name", values(p, "first_names") + values(p, "first_names_male") +
            values(p, "first_names_female"), han)
        for attr in FIRST_NAME_ATTRS:
            add("first_name", values(p, attr), alphabetic)
        for attr in LAST_NAME_ATTRS:
            add("last_name", values(p, attr), alphabetic)

    for loc in COUNTRY_LOCALES:
        add("country", values(provider("address", loc), "countries"), alphabetic)
    for loc in address_locales:
        p = provider("address", loc)
        if p is None:
            continue
        for attr in CITY_ATTRS:
            add("city", values(p, attr), alphabetic)
        for attr in STATE_ATTRS:
            add("state", values(p, attr), alphabetic)
        for attr in STATE_ABBR_ATTRS:
            add("state_abbr", values(p, attr), lambda w: re.fullmatch(r"[A-Z]{2,3}", w) is not None)
        for attr in STREET_SUFFIX_ATTRS:
            add("street_suffix", values(p, attr), alphabetic)
        for attr in STREET_PREFIX_ATTRS:
            add("street_prefix", values(p, attr), alphabetic)
    for loc in ZH_LOCALES:
        p = provider("address", loc)
        add("zh_country", values(p, "countries"), han)
        add("zh_province", values(p, "provinces"), han)
        add("zh_city", values(p, "cities"), han)
        add("zh_district", values(p, "districts"), han)
        add("zh_street", values(p, "street_names"), han)

    company_root = os.path.dirname(importlib.import_module("faker.providers.company").__file__)
    for loc in sorted(d for d in os.listdir(company_root) if not d.startswith("_")):
        p = provider("company", loc)
        if p is None:
            continue
        suffixes = values(p, "company_suffixes")
        if loc in ZH_LOCALES:
            add("zh_company_suffix", suffixes, han)
        else:
            add("company_suffix", suffixes, alphabetic)
    return entries


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: build_gazetteer.py FAKER_WHEEL OUT.tsv")
    wheel, out = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        sys.path.insert(0, tmp)
        faker_version = importlib.import_module("faker").VERSION
        entries = collect()
    counts = {}
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# pii gazetteer from faker {faker_version} (MIT); kind<TAB>value\n")
        for kind, value in sorted(entries):
            f.write(f"{kind}\t{value}\n")
            counts[kind] = counts.get(kind, 0) + 1
    for kind in sorted(counts):
        print(f"{kind:>18} {counts[kind]:>7}")
    print(f"{'total':>18} {len(entries):>7}  -> {out}")


if __name__ == "__main__":
    main()

"""A small English->German parallel corpus generated from a grammar.

Numbers, years, dates, clock times and short sentences with German gender,
case and adjective agreement. German numbers are written as single compound
words ("dreihundertzwölf"), so a subword vocabulary has something to learn.
The same ``seed`` always yields the same pairs; no file or network is used.
"""

import random

_ONES_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
_TENS_EN = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ONES_DE = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
            "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn",
            "siebzehn", "achtzehn", "neunzehn"]
_TENS_DE = ["", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig",
            "achtzig", "neunzig"]

_ORD_EN = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth",
           7: "seventh", 8: "eighth", 9: "ninth", 10: "tenth", 11: "eleventh", 12: "twelfth",
           20: "twentieth", 30: "thirtieth"}
_ORD_DE = {1: "ersten", 3: "dritten", 7: "siebten", 8: "achten"}

_MONTHS = [("January", "Januar"), ("February", "Februar"), ("March", "März"),
           ("April", "April"), ("May", "Mai"), ("June", "Juni"), ("July", "Juli"),
           ("August", "August"), ("September", "September"), ("October", "Oktober"),
           ("November", "November"), ("December", "Dezember")]

# english, german singular, german plural, gender (m/f/n)
_NOUNS = [("dog", "Hund", "Hunde", "m"), ("cat", "Katze", "Katzen", "f"),
          ("house", "Haus", "Häuser", "n"), ("book", "Buch", "Bücher", "n"),
          ("apple", "Apfel", "Äpfel", "m"), ("car", "Auto", "Autos", "n"),
          ("bird", "Vogel", "Vögel", "m"), ("table", "Tisch", "Tische", "m"),
          ("lamp", "Lampe", "Lampen", "f"), ("flower", "Blume", "Blumen", "f"),
          ("child", "Kind", "Kinder", "n"), ("teacher", "Lehrer", "Lehrer", "m"),
          ("chair", "Stuhl", "Stühle", "m"), ("bottle", "Flasche", "Flaschen", "f"),
          ("window", "Fenster", "Fenster", "n"), ("letter", "Brief", "Briefe", "m")]
_ADJECTIVES = [("red", "rot"), ("big", "groß"), ("small", "klein"), ("old", "alt"),
               ("new", "neu"), ("green", "grün"), ("blue", "blau"), ("beautiful", "schön"),
               ("black", "schwarz"), ("white", "weiß"), ("young", "jung"), ("fast", "schnell")]
# english base, english 3rd person, german ich, german er/sie/es, german wir/sie
_VERBS = [("see", "sees", "sehe", "sieht", "sehen"), ("like", "likes", "mag", "mag", "mögen"),
          ("buy", "buys", "kaufe", "kauft", "kaufen"), ("find", "finds", "finde", "findet", "finden"),
          ("have", "has", "habe", "hat", "haben"), ("need", "needs", "brauche", "braucht", "brauchen"),
          ("paint", "paints", "male", "malt", "malen"), ("know", "knows", "kenne", "kennt", "kennen")]
_PRONOUNS = [("I", "ich", "1s"), ("we", "wir", "pl"), ("he", "er", "3s"), ("she", "sie", "3s"),
             ("they", "sie", "pl")]

_DEF = {"nom": {"m": "der", "f": "die", "n": "das"}, "acc": {"m": "den", "f": "die", "n": "das"}}
_INDEF = {"nom": {"m": "ein", "f": "eine", "n": "ein"}, "acc": {"m": "einen", "f": "eine", "n": "ein"}}
_WEAK = {"nom": {"m": "e", "f": "e", "n": "e"}, "acc": {"m": "en", "f": "e", "n": "e"}}
_MIXED = {"nom": {"m": "er", "f": "e", "n": "es"}, "acc": {"m": "en", "f": "e", "n": "es"}}


def number_en(n):
    """English words for 0 <= n < 1000, e.g. 312 -> 'three hundred twelve'."""
    if n < 20:
        return _ONES_EN[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS_EN[tens] + ("" if ones == 0 else " " + _ONES_EN[ones])
    hundreds, rest = divmod(n, 100)
    return _ONES_EN[hundreds] + " hundred" + ("" if rest == 0 else " " + number_en(rest))


def number_de(n, final=True):
    """German compound word for 0 <= n < 10000, e.g. 312 -> 'dreihundertzwölf'.

    ``final`` is whether the word ends the number: 1 is 'eins' there and
    'ein' inside compounds ('einundzwanzig', 'einhundert').
    """
    if n < 20:
        return "ein" if (n == 1 and not final) else _ONES_DE[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if ones == 0 else number_de(ones, final=False) + "und") + _TENS_DE[tens]
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return number_de(hundreds, final=False) + "hundert" + ("" if rest == 0 else number_de(rest))
    thousands, rest = divmod(n, 1000)
    return number_de(thousands, final=False) + "tausend" + ("" if rest == 0 else number_de(rest))


def ordinal_en(n):
    """English ordinal for 1 <= n <= 31, e.g. 21 -> 'twenty first'."""
    if n in _ORD_EN:
        return _ORD_EN[n]
    if n < 20:
        return number_en(n) + "th"
    tens, ones = divmod(n, 10)
    return _TENS_EN[tens] + " " + _ORD_EN[ones]


def ordinal_de(n):
    """German dative ordinal for 1 <= n <= 31, e.g. 21 -> 'einundzwanzigsten'."""
    if n in _ORD_DE:
        return _ORD_DE[n]
    return number_de(n) + ("ten" if n < 20 else "sten")


def year_en(y):
    """English reading of a year 1900..2099, e.g. 1905 -> 'nineteen oh five'."""
    if y < 2000:
        rest = y - 1900
        if rest == 0:
            return "nineteen hundred"
        return "nineteen " + ("oh " + _ONES_EN[rest] if rest < 10 else number_en(rest))
    if y < 2010:
        return "two thousand" + ("" if y == 2000 else " " + _ONES_EN[y - 2000])
    return "twenty " + number_en(y - 2000)


def year_de(y):
    """German reading of a year 1900..2099, e.g. 1905 -> 'neunzehnhundertfünf'."""
    if y < 2000:
        return "neunzehnhundert" + ("" if y == 1900 else number_de(y - 1900))
    return number_de(y)


def _noun_phrase(rng, case, definite):
    en, sg, _, gender = rng.choice(_NOUNS)
    adj_en, adj_de = rng.choice(_ADJECTIVES)
    if definite:
        return f"the {adj_en} {en}", f"{_DEF[case][gender]} {adj_de}{_WEAK[case][gender]} {sg}"
    article_en = "an" if adj_en[0] in "aeiou" else "a"
    return (f"{article_en} {adj_en} {en}",
            f"{_INDEF[case][gender]} {adj_de}{_MIXED[case][gender]} {sg}")


def _counted_phrase(rng):
    n = rng.randint(2, 99)
    en, _, pl, _ = rng.choice(_NOUNS)
    adj_en, adj_de = rng.choice(_ADJECTIVES)
    return f"{number_en(n)} {adj_en} {en}s".replace("childs", "children"), f"{number_de(n)} {adj_de}e {pl}"


def _sentence(rng):
    kind = rng.random()
    if kind < 0.45:
        if rng.random() < 0.4:
            subj_en, subj_de, person = rng.choice(_PRONOUNS)
        else:
            subj_en, subj_de = _noun_phrase(rng, "nom", rng.random() < 0.6)
            person = "3s"
        verb = rng.choice(_VERBS)
        verb_en = verb[1] if person == "3s" else verb[0]
        verb_de = {"1s": verb[2], "3s": verb[3], "pl": verb[4]}[person]
        if rng.random() < 0.3:
            obj_en, obj_de = _counted_phrase(rng)
        else:
            obj_en, obj_de = _noun_phrase(rng, "acc", rng.random() < 0.5)
        return f"{subj_en} {verb_en} {obj_en}.", f"{subj_de} {verb_de} {obj_de}."
    if kind < 0.6:
        day = rng.randint(1, 31)
        month_en, month_de = rng.choice(_MONTHS)
        return (f"we meet on the {ordinal_en(day)} of {month_en}.",
                f"wir treffen uns am {ordinal_de(day)} {month_de}.")
    if kind < 0.72:
        hour, minute = rng.randint(1, 12), rng.randint(1, 59)
        minute_en = ("oh " if minute < 10 else "") + number_en(minute)
        return (f"the train leaves at {number_en(hour)} {minute_en}.",
                f"der Zug fährt um {number_de(hour, final=False)} Uhr {number_de(minute)} ab.")
    if kind < 0.84:
        y = rng.randint(1900, 2099)
        return f"the house was built in {year_en(y)}.", f"das Haus wurde {year_de(y)} gebaut."
    n = rng.randint(0, 999)
    return f"the number is {number_en(n)}.", f"die Zahl ist {number_de(n)}."


def _capitalize(text):
    return text[:1].upper() + text[1:]


def generate_pairs(n, seed=0):
    """``n`` (english, german) sentence pairs, the same for the same seed."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        en, de = _sentence(rng)
        pairs.append((_capitalize(en), _capitalize(de)))
    return pairs


def builtin_splits(train_size, val_size, test_size, seed=0):
    """Train/validation/test pairs with no source sentence shared across splits."""
    rng = random.Random(seed)
    seen, held_out = set(), []
    while len(held_out) < val_size + test_size:
        en, de = _sentence(rng)
        en, de = _capitalize(en), _capitalize(de)
        if en not in seen:
            seen.add(en)
            held_out.append((en, de))
    train = []
    while len(train) < train_size:
        en, de = _sentence(rng)
        en, de = _capitalize(en), _capitalize(de)
        if en not in seen:
            train.append((en, de))
    return train, held_out[:val_size], held_out[val_size:]

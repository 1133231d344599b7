"""The built-in sentiment set's language: word lists and sentence templates (no registry here;
``core.data.builtin`` registers the dataset).

Reviews of films, books, games, products and places, each positive or negative, written from
templates: the verdict comes from an adjective, a noun or a verb of opinion, which may be
intensified ("utterly charming"), negated ("not a good film at all", "hardly a masterpiece",
"did not enjoy") or follow a contrast ("the cast is dull , but the story is moving"). Words
are drawn with Zipf-like frequencies (the first of each list is the most common, as in real
text), and neutral clauses about people, places and times carry most of the vocabulary: a few
thousand words, so a model meets unknown and rare words as it would in everyday sentences.

:func:`review` returns the text and whether its verdict rests on a negation, which the dataset
hands to the classification task (``DatasetSplits.extras["negated"]``) for its
``negation_accuracy`` metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    """A word list written as one string (easier to read and edit than a list literal)."""
    return tuple(w.strip() for w in text.split(sep) if w.strip())


# -- opinion words (most common first) -----------------------------------------------------------
POS_ADJ = _words(
    "good great excellent wonderful charming brilliant lovely enjoyable beautiful fun funny moving "
    "delightful clever fantastic amazing superb touching gripping witty smart fresh engaging stunning "
    "memorable satisfying impressive thoughtful solid compelling uplifting elegant polished exciting "
    "reliable sturdy terrific marvelous outstanding magnificent splendid fabulous heartwarming "
    "hilarious sharp gorgeous graceful powerful rich vivid warm sweet tender honest original "
    "imaginative inspired inspiring intelligent insightful nuanced poignant rewarding refreshing "
    "remarkable spectacular stellar sublime thrilling timeless wise absorbing accomplished admirable "
    "affecting appealing astonishing breathtaking captivating cheerful comfortable cozy dazzling "
    "dependable durable efficient enchanting energetic entertaining exceptional exquisite "
    "fascinating fine flawless friendly generous gentle glorious happy helpful incredible intriguing "
    "joyful likable lively lush magical masterful mesmerizing neat nice perfect pleasant pleasing "
    "precise radiant relaxing robust sensational sleek smooth sparkling stylish superior tasty "
    "thorough tidy useful valuable vibrant welcoming wholesome playful spirited tight bold crisp"
)
NEG_ADJ = _words(
    "bad boring terrible awful dull disappointing poor weak tedious bland slow predictable "
    "forgettable mediocre clumsy flat lifeless sloppy tiresome painful shallow pointless annoying "
    "confusing lazy messy cheap ugly stale clunky frustrating hollow irritating flimsy broken "
    "overpriced horrible dreadful atrocious abysmal lousy pathetic miserable dismal grim drab dreary "
    "inept incoherent insipid joyless lame limp listless monotonous muddled noisy obnoxious "
    "offensive overlong overrated pretentious repetitive ridiculous rotten rude sluggish smug stiff "
    "stupid tacky tasteless tepid trite unbearable unconvincing uneven uninspired unpleasant "
    "unreliable useless vapid wooden worthless awkward bloated careless chaotic cramped crude "
    "defective dirty disjointed faulty fragile greasy gloomy harsh lackluster leaky mindless murky "
    "nasty forced generic grating hackneyed soggy sour stodgy cold dim drawn-out dated cluttered "
    "sticky shoddy flawed hopeless silly tinny wobbly"
)
INTENSIFIERS = _words(
    "very really truly utterly extremely incredibly absolutely quite so remarkably genuinely "
    "thoroughly deeply totally completely wonderfully immensely exceptionally seriously pretty "
    "highly hugely entirely simply downright"
)
# Each flips the polarity of the adjective after it; "at all" may close the phrase.
NEGATORS = ("not", "never", "hardly", "far from", "anything but", "not very", "not exactly",
            "not particularly", "not remotely", "barely", "no longer")
FOUND_NEGATORS = ("not", "anything but", "far from", "not exactly", "not particularly", "not very")
POS_NOUN = _words("masterpiece triumph gem delight joy treat marvel success winner pleasure "
                  "revelation knockout keeper must-see charmer")
NEG_NOUN = _words("disaster mess letdown bore failure chore waste flop nightmare dud "
                  "embarrassment shambles slog headache rip-off")
# (past, base) so both "loved the film" and "did not love the film" read right.
POS_VERB = (("loved", "love"), ("enjoyed", "enjoy"), ("liked", "like"), ("adored", "adore"),
            ("recommended", "recommend"), ("appreciated", "appreciate"), ("admired", "admire"),
            ("treasured", "treasure"), ("savoured", "savour"), ("cherished", "cherish"))
NEG_VERB = (("hated", "hate"), ("disliked", "dislike"), ("regretted", "regret"),
            ("resented", "resent"), ("despised", "despise"), ("loathed", "loathe"))

# -- what is reviewed -----------------------------------------------------------------------------
THINGS = _words(
    "film movie story book show novel series album game restaurant hotel phone play sequel "
    "documentary comedy drama thriller musical concert podcast episode season cartoon memoir "
    "biography anthology collection record song performance opera ballet exhibition museum tour "
    "gallery festival production remake adaptation trilogy franchise debut finale premiere "
    "laptop camera blender headset charger jacket backpack cafe bakery bar pizza burger salad "
    "soup sandwich bike car tent mattress chair desk lamp kettle toaster vacuum printer monitor "
    "keyboard speaker watch shoes boots dress coat umbrella suitcase tablet router drone "
    "microwave fridge oven sofa pillow blanket stroller guitar piano app website course class "
    "lecture workshop seminar flight train cruise trip resort spa gym theater cinema stadium "
    "apartment room suite campsite hostel diner bistro pub brewery vineyard market mall shop "
    "novella comic manga textbook guidebook cookbook magazine newspaper puzzle toy boardgame"
)
ASPECTS = _words(
    "acting plot ending script soundtrack dialogue pacing cast direction writing characters "
    "performances visuals cinematography humor music lyrics vocals melody battery screen design "
    "price service sound quality food staff interface menu dessert portions coffee delivery "
    "packaging instructions fit fabric stitching zipper room view location breakfast bed shower "
    "wifi parking checkout ending twist finale opening villain hero lead narration translation "
    "illustrations cover layout controls graphics levels story campaign multiplayer setup "
    "software camera keyboard speakers build handle lid blade motor engine seats suspension"
)

# -- neutral clauses: who, where, when, what else (most of the vocabulary, drawn uniformly) ------
NAMES = _words(
    "anna ben carla david emma felix grace hugo iris jack kate leo maria nina oscar paula quinn "
    "rosa sam tara umar vera will xena yusuf zoe adam bella chris diana eric fiona george hannah "
    "ivan julia karl lena mark nora omar priya rachel simon tom ursula victor wendy yara zack "
    "alice bruno chloe dmitri elena frank gina harry isabel jonas kira lucas mia noah olga pedro "
    "ruth sofia theo ulla vince wanda yannick aisha boris celine dario esther farid greta hassan "
    "ines jamal kofi lars mei nadia otto pilar rafael selma tariq uma valentin wei xavier yoko "
    "aaron abby ada aiden alan albert alex alfie amara amir amy andre andrea angela anton april "
    "arjun arthur asha astrid aurora ava beatrice bernard bianca bilal brian bridget caleb camila "
    "carlos carmen caroline cecilia charles charlotte clara claude colin connor daisy dan daniel "
    "darius dean delia denise derek diego dina dora dylan edgar edith edward eileen elias eliza "
    "ella ellen elliot emil emily enzo erik ernesto ethan eva evan ezra fatima felipe florence "
    "francesca freya gabriel gemma gideon gloria gordon hamid harriet hazel hector heidi helen "
    "henry hiro holly ian ida igor imogen irene isaac jade james jana jasmine jason javier jean "
    "jenna jerome joan joel john jorge josie juan jude june kai kamal karen keith kenji kevin "
    "khalid kim laila laura leah leila leon liam lily linda lisa lola lorenzo louis lucia luis "
    "luke mabel malik marco margaret marta martin mateo matilda max maya michael miguel milo "
    "miriam mohammed molly monica nadine naomi nathan neil nicole nils nolan olive oliver owen "
    "pablo patrick paul pearl peter philip phoebe rania raymond reza rhea richard rita robert "
    "robin rohan roman rory rose ruby rufus ryan sabrina sadie salma sandra sara sean selena "
    "seth sienna silas sonia stella stephen susan sven sylvia tanya teresa thomas tim tobias "
    "tony vanessa vera vivian walter xander yasmin yvonne zara zeke zelda"
)
RELATIVES = _words(
    "sister brother mother father mom dad aunt uncle cousin grandmother grandfather niece nephew "
    "wife husband partner son daughter roommate neighbour colleague friend boss teacher classmate "
    "coworker flatmate landlord godmother stepfather stepsister grandson granddaughter fiancee "
    "mentor coach tutor pen pal best friend"
)
JOBS = _words(
    "nurse teacher student engineer chef farmer doctor lawyer pilot driver baker plumber carpenter "
    "designer writer editor painter dentist pharmacist librarian firefighter mechanic electrician "
    "gardener cashier banker accountant architect journalist photographer programmer scientist "
    "researcher surgeon tailor waiter barista butcher florist fisherman sailor soldier police "
    "officer judge professor lecturer translator interpreter receptionist secretary manager "
    "cleaner janitor courier postman miner welder potter sculptor dancer singer actor musician "
    "drummer violinist composer conductor veterinarian zookeeper beekeeper shepherd ranger guide "
    "clerk auditor economist historian geologist chemist physicist biologist astronomer "
    "optician paramedic midwife therapist psychologist counsellor coach referee jockey lifeguard "
    "locksmith roofer glazier upholsterer jeweller watchmaker bookbinder printer typist"
)
CITIES = _words(
    "london paris berlin madrid rome lisbon dublin vienna prague warsaw athens oslo stockholm "
    "helsinki copenhagen amsterdam brussels zurich geneva milan naples barcelona seville porto lyon "
    "marseille munich hamburg cologne krakow budapest toronto montreal vancouver chicago boston "
    "seattle denver austin miami atlanta phoenix dallas houston portland detroit nashville memphis "
    "tokyo osaka seoul beijing shanghai mumbai delhi cairo lagos nairobi sydney melbourne auckland "
    "lima bogota santiago quito havana glasgow edinburgh cardiff belfast leeds bristol liverpool "
    "manchester york oxford cambridge bath brighton nantes bordeaux toulouse nice lille strasbourg "
    "frankfurt stuttgart dresden leipzig bremen hanover bonn basel bern lausanne salzburg graz "
    "ljubljana zagreb belgrade sofia bucharest riga tallinn vilnius minsk kyiv odesa istanbul "
    "ankara izmir tbilisi yerevan baku tehran dubai doha muscat riyadh amman beirut jerusalem "
    "casablanca tunis algiers accra dakar kampala kigali addis harare lusaka johannesburg durban "
    "capetown perth brisbane adelaide hobart wellington christchurch honolulu anchorage calgary "
    "edmonton winnipeg ottawa quebec halifax boise tucson albuquerque omaha tulsa kansas "
    "milwaukee minneapolis cleveland pittsburgh baltimore richmond raleigh charleston savannah "
    "orlando tampa oakland sacramento fresno reno spokane hanoi bangkok manila jakarta singapore "
    "kathmandu dhaka karachi lahore colombo chennai kolkata bangalore hyderabad pune jaipur "
    "kyoto sapporo busan taipei hongkong macau ulaanbaatar almaty tashkent montevideo asuncion"
)
COUNTRIES = _words(
    "france spain italy portugal germany austria poland greece norway sweden finland denmark "
    "ireland scotland wales england iceland canada mexico brazil argentina chile peru colombia "
    "ecuador cuba jamaica japan korea china india nepal vietnam thailand indonesia malaysia egypt "
    "morocco kenya ghana nigeria ethiopia uganda tanzania australia zealand turkey georgia "
    "armenia jordan lebanon croatia serbia hungary romania bulgaria latvia estonia lithuania "
    "ukraine belgium netherlands switzerland luxembourg monaco malta cyprus tunisia senegal"
)
DAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
MONTHS = _words("january february march april may june july august september october november december")
TIMES = _words(
    "after dinner|before lunch|on the weekend|late at night|early in the morning|during a storm|"
    "on a long flight|on the bus|at a friend's place|during the holidays|on my birthday|after work|"
    "on a rainy afternoon|over the summer|last winter|on a school night|between meetings|on the "
    "train home|while camping|at the cottage|during the power cut|after the wedding|before the "
    "exam|at midnight|at dawn|on a sunday evening|during the break|after the match", "|")
PLACES = _words(
    "station library airport harbour market square bakery pharmacy post office town hall "
    "university campus hospital stadium park beach lake river bridge castle cathedral village "
    "suburb farm garden mall garage warehouse factory museum aquarium zoo playground cemetery "
    "chapel temple mosque synagogue monastery lighthouse pier marina dock canal tunnel highway "
    "roundabout crossroads parking lot bus stop subway platform ferry terminal ice rink bowling "
    "alley arcade laundromat barbershop salon bookshop toyshop pawnshop hardware store "
    "supermarket greengrocer deli bakery fishmonger bank embassy courthouse prison fire station "
    "police station school kindergarten dormitory cafeteria gymnasium swimming pool racetrack "
    "golf course vineyard orchard meadow forest valley canyon cliff cave glacier volcano island "
    "peninsula desert oasis swamp marsh pond waterfall hillside mountain summit ridge"
)
OBJECTS = _words(
    "umbrella notebook pencil stapler envelope postcard stamp candle lantern torch ladder bucket "
    "broom mop sponge towel blanket pillow mirror clock calendar vase teapot mug saucer spoon "
    "fork ladle whisk colander grater skillet wok kettle thermos flask basket crate barrel "
    "suitcase wallet purse keychain padlock hammer screwdriver wrench pliers drill saw chisel "
    "tape glue scissors needle thread button zipper buckle belt scarf glove mitten hat cap "
    "helmet goggles sunglasses backpack satchel briefcase folder binder ruler compass protractor "
    "globe map atlas dictionary encyclopedia magazine newspaper brochure leaflet poster painting "
    "frame easel palette brush canvas chalk crayon marker eraser sharpener calculator typewriter "
    "radio television antenna cable plug socket battery bulb fan heater radiator thermostat "
    "curtain blind rug carpet doormat cushion stool bench shelf cupboard drawer wardrobe dresser "
    "cot crib hammock tent sleeping bag compass kayak canoe paddle oar anchor rope net fishing rod "
    "kite balloon frisbee skateboard scooter sled skis snowboard racket bat glove ball puck "
    "trophy medal ribbon badge whistle stopwatch dice chessboard deck cards jigsaw marble yoyo "
    "teddy doll robot spaceship rocket telescope microscope magnifier thermometer barometer"
)
FOODS = _words(
    "pasta noodles rice soup bread cheese apples pears grapes oranges tea coffee cake cookies "
    "pancakes waffles curry tacos sushi dumplings popcorn chocolate lemons limes cherries plums "
    "peaches apricots bananas mangoes pineapple melon watermelon strawberries blueberries "
    "raspberries figs dates olives tomatoes cucumbers carrots potatoes onions garlic peppers "
    "mushrooms spinach lettuce cabbage broccoli cauliflower beans lentils chickpeas peas corn "
    "oats cereal muesli yoghurt butter cream milk eggs omelette bacon sausages ham salami "
    "chicken turkey beef lamb pork salmon tuna sardines prawns mussels oysters crab lobster "
    "risotto lasagne ravioli gnocchi polenta paella couscous hummus falafel kebab burrito "
    "nachos quesadilla ramen pho bibimbap kimchi tempura tofu miso samosas biryani naan "
    "croissants baguettes bagels pretzels muffins scones brownies doughnuts pie tart crumble "
    "custard pudding jelly ice cream sorbet lemonade cider juice cocoa smoothies"
)
ANIMALS = _words(
    "dog cat rabbit parrot horse goat hamster turtle pony puppy kitten goldfish canary guinea pig "
    "ferret lizard snake frog toad mouse rat squirrel hedgehog fox badger deer moose elk bear wolf "
    "lynx owl hawk eagle falcon crow raven pigeon sparrow robin swan duck goose heron stork crane "
    "seal otter beaver dolphin whale shark octopus crab jellyfish starfish donkey mule cow sheep "
    "pig chicken rooster llama alpaca camel zebra giraffe elephant lion tiger leopard cheetah "
    "monkey gorilla panda koala kangaroo penguin flamingo peacock tortoise iguana gecko"
)
ACTIVITIES = _words(
    "hiking cooking baking gardening fishing sailing cycling running swimming skiing skating "
    "climbing camping knitting sewing painting drawing reading writing singing dancing drumming "
    "juggling surfing rowing kayaking birdwatching stargazing jogging walking shopping cleaning "
    "packing unpacking studying revising commuting travelling volunteering "
    "babysitting tutoring carpentry pottery photography woodworking quilting embroidery chess "
    "gaming bowling golfing fencing boxing wrestling archery yoga pilates meditation karaoke"
)
VEHICLES = _words("bus train tram ferry plane car taxi van truck bicycle motorbike scooter "
                  "subway coach boat yacht helicopter")
COLOURS = _words("red blue green yellow black white grey brown orange purple pink silver golden "
                 "beige navy teal maroon olive turquoise lavender crimson ivory")
WEATHER = _words("rainy sunny windy snowy foggy cloudy stormy chilly humid freezing mild misty "
                 "muggy breezy frosty")
SUBJECTS = _words(
    "history geography biology chemistry physics mathematics economics philosophy linguistics "
    "literature music medicine law nursing architecture engineering astronomy geology "
    "psychology sociology anthropology archaeology statistics accounting marketing journalism "
    "agriculture forestry veterinary dentistry pharmacy theology classics latin greek spanish "
    "french german italian japanese chinese arabic russian portuguese dutch"
)
INSTRUMENTS = _words("piano guitar violin cello flute clarinet trumpet trombone saxophone drums "
                     "harp ukulele banjo accordion harmonica oboe bassoon tuba xylophone organ")
SPORTS = _words("football tennis basketball volleyball baseball cricket rugby hockey badminton "
                "squash handball netball softball lacrosse polo curling snooker darts table tennis")
NUMBERS = _words("two three four five six seven eight nine ten eleven twelve fifteen twenty "
                 "thirty forty fifty")
NEUTRAL_VERBS = _words(
    "visited painted repaired borrowed returned lost found sold bought packed cleaned wrapped "
    "posted carried fixed built opened closed moved washed dried folded sorted measured weighed "
    "counted photographed sketched labelled stacked loaded unloaded delivered collected ordered"
)


def _neutral(rng: np.random.Generator) -> str:
    """A clause that says nothing about quality: who, where, when, what else happened."""
    who = _person(rng)
    u = _u
    choice = int(rng.integers(16))
    if choice == 0:
        return f"{who} watched it in {u(rng, CITIES)} on a {u(rng, DAYS)}"
    if choice == 1:
        return f"we saw it in {u(rng, MONTHS)} {u(rng, TIMES)} in {u(rng, COUNTRIES)}"
    if choice == 2:
        return f"my {u(rng, RELATIVES)} , a {u(rng, JOBS)} from {u(rng, CITIES)} , bought it"
    if choice == 3:
        return f"it came in a {u(rng, COLOURS)} box with a {u(rng, OBJECTS)}"
    if choice == 4:
        return f"i picked it up near the {u(rng, PLACES)} in {u(rng, CITIES)}"
    if choice == 5:
        return f"{who} told me about it over {u(rng, FOODS)} and {u(rng, FOODS)}"
    if choice == 6:
        return f"it runs about {u(rng, NUMBERS)} hours"
    if choice == 7:
        return f"our {u(rng, ANIMALS)} slept through it"
    if choice == 8:
        return f"{who} and i went after {u(rng, ACTIVITIES)} near the {u(rng, PLACES)}"
    if choice == 9:
        return f"i read about it on the {u(rng, VEHICLES)} to {u(rng, CITIES)}"
    if choice == 10:
        return f"it was {u(rng, WEATHER)} in {u(rng, CITIES)} that week"
    if choice == 11:
        return f"{who} {u(rng, NEUTRAL_VERBS)} a {u(rng, OBJECTS)} that day"
    if choice == 12:
        return f"{who} , who studies {u(rng, SUBJECTS)} , plays the {u(rng, INSTRUMENTS)}"
    if choice == 13:
        return f"we had {u(rng, FOODS)} after {u(rng, SPORTS)} practice"
    if choice == 14:
        return f"a {u(rng, JOBS)} at the {u(rng, PLACES)} mentioned it while {u(rng, ACTIVITIES)}"
    return f"{who} saw a {u(rng, ANIMALS)} and a {u(rng, ANIMALS)} on the way to {u(rng, CITIES)}"


# -- sampling -----------------------------------------------------------------------------------
@cache
def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / (np.arange(n) + 2.0)
    return np.cumsum(weights / weights.sum())


def _z(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    """One item, the first ones most often (Zipf-like, as words are in real text)."""
    return items[min(int(np.searchsorted(_zipf(len(items)), rng.random())), len(items) - 1)]


def _u(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def _person(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        return str(_u(rng, NAMES))
    if r < 0.7:
        return f"my {_u(rng, RELATIVES)}"
    return str(_u(rng, ("i", "we", "everyone", "the kids", "the critics", "my whole family")))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# Share of verdicts resting on a negation: high enough that single words mislead a bag of
# words, low enough that words still carry their usual meaning.
NEGATION_RATE = 0.35
CONTRAST_RATE = 0.12  # "..., but ..." (and "although ..., ..." 0.4 times as often)
INTENSIFY_RATE = 0.4
NEUTRAL_RATE = 0.5  # reviews with a clause about who, where or when


def _adj(rng: np.random.Generator, positive: bool) -> str:
    return _z(rng, POS_ADJ if positive else NEG_ADJ)


def _adj_phrase(rng: np.random.Generator, positive: bool, negate: bool,
                negators: tuple[str, ...] = NEGATORS) -> str:
    """An adjective phrase whose final polarity is ``positive``: "utterly charming", "not good
    at all", "hardly boring"."""
    if negate:
        adj = _adj(rng, not positive)
        negator = str(_u(rng, negators))
        tail = " at all" if negator == "not" and rng.random() < 0.3 else ""
        return f"{negator} {adj}{tail}"
    adj = _adj(rng, positive)
    return f"{_z(rng, INTENSIFIERS)} {adj}" if rng.random() < INTENSIFY_RATE else adj


def clause(rng: np.random.Generator, positive: bool) -> tuple[str, bool]:
    """One clause with the given verdict, and whether that verdict rests on a negation."""
    negate = bool(rng.random() < NEGATION_RATE)
    kind = rng.random()
    thing = _z(rng, THINGS)
    verb = "is" if rng.random() < 0.5 else "was"
    if kind < 0.3:  # the acting was utterly charming / the battery is not good at all
        subject = _z(rng, ASPECTS) if rng.random() < 0.5 else thing
        return f"the {subject} {verb} {_adj_phrase(rng, positive, negate)}", negate
    if kind < 0.5:  # an utterly charming story / not a good film at all / what a dull book
        if negate:
            adj = _adj(rng, not positive)
            lead = "" if rng.random() < 0.5 else str(_u(rng, ("it is ", "it was ", "this is ", f"the {thing} {verb} ")))
            return f"{lead}not {_article(adj)} {adj} {thing}{_u(rng, (' at all', '', ''))}".strip(), True
        adj = _adj(rng, positive)
        if rng.random() < INTENSIFY_RATE + 0.2:
            intens = _z(rng, INTENSIFIERS)
            phrase = f"{_article(intens)} {intens} {adj} {thing}"
        else:
            phrase = f"{_article(adj)} {adj} {thing}"
        lead = "" if rng.random() < 0.5 else str(_u(rng, ("what ", "it is ", "it was ", "this is ", "such ")))
        return f"{lead}{phrase}", False
    if kind < 0.65:  # a real gem / hardly a masterpiece
        noun = _z(rng, POS_NOUN if positive != negate else NEG_NOUN)
        lead = str(_u(rng, ("it is", "this is", f"the {thing} {verb}", "it was")))
        if negate:
            return f"{lead} {_u(rng, ('not', 'hardly', 'far from', 'by no means', 'never'))} {_article(noun)} {noun}", True
        how = _u(rng, ("a real", "a true", "an absolute", "such a", "quite a", "a total"))
        if how == "a total" and positive:
            how = "a true"
        return f"{lead} {how} {noun}", False
    if kind < 0.85:  # my sister loved the film / we did not enjoy the book
        past, base = _u(rng, POS_VERB if positive != negate else NEG_VERB)
        who = _person(rng)
        if negate:
            roll = rng.random()
            if roll < 0.5:
                return f"{who} did not {base} the {thing}", True
            if roll < 0.75 or positive:
                return f"{who} never {past} the {thing}", True
            return f"{who} would not recommend it to anyone", True
        adverb = f"{_u(rng, ('really', 'truly', 'simply', 'just', 'absolutely'))} " if rng.random() < 0.3 else ""
        return f"{who} {adverb}{past} the {thing}", False
    return f"{_person(rng)} found the {thing} {_adj_phrase(rng, positive, negate, FOUND_NEGATORS)}", negate


OPENERS = ("honestly ,", "overall ,", "to be fair ,", "in the end ,", "frankly ,", "well ,",
           "all in all ,", "in short ,", "to be honest ,", "after all that ,")


def review(rng: np.random.Generator, positive: bool) -> tuple[str, bool]:
    """A review with the given verdict, and whether the verdict rests on a negation."""
    r = rng.random()
    text, negated = clause(rng, positive)
    if r < CONTRAST_RATE:  # the clause after "but" carries the verdict, so order matters
        other, _ = clause(rng, not positive)
        text = f"{other} , but {text}"
    elif r < CONTRAST_RATE * 1.4:
        other, _ = clause(rng, not positive)
        text = f"although {other} , {text}"
    if rng.random() < 0.2:
        text = f"{_u(rng, OPENERS)} {text}"
    if rng.random() < NEUTRAL_RATE:
        extra = _neutral(rng)
        text = f"{extra} . {text}" if rng.random() < 0.5 else f"{text} . {extra}"
    return text + " .", negated


def vocabulary() -> set[str]:
    """Every word the templates can write (what a word tokenizer may meet)."""
    lists = (POS_ADJ, NEG_ADJ, INTENSIFIERS, POS_NOUN, NEG_NOUN, THINGS, ASPECTS, NAMES, RELATIVES,
             JOBS, CITIES, COUNTRIES, DAYS, MONTHS, TIMES, PLACES, OBJECTS, FOODS, ANIMALS,
             ACTIVITIES, VEHICLES, COLOURS, WEATHER, SUBJECTS, INSTRUMENTS, SPORTS, NUMBERS,
             NEUTRAL_VERBS, NEGATORS, OPENERS, tuple(w for pair in POS_VERB + NEG_VERB for w in pair))
    return {w for items in lists for item in items for w in item.split()}

"""What the build takes from which source, material by material (a hand-written table).

Each entry says, for one material: its reference unit and stages; where each stage's
production by country comes from (a USGS world table, the IEA dataset, or the
hand-written ``tables/production_shares.csv``); how the world total is set; where the
2024 reference price comes from and how it converts to USD per tonne of the reference
unit; the capacity utilisation assumed where USGS gives no capacity; and which USGS
import-source line anchors the US imports at which stage. Every number written here
has its reasoning beside it; each one is copied into the dataset's assumptions.csv.

Basis: the tensor carries *primary* material. The world total of a material (``total``)
is its 2024 world primary output at the stage named; both stages carry that same total
(yield 1: the mining stage is the contained metal/oxide that refiners need), and each
stage's country shares come from its own source. Secondary (scrap) supply is outside the
tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE_YEAR = "2024"  # latest year with full USGS world tables (2025 values are estimates)
LB_PER_T = 2204.62262  # pounds per metric ton
KG_PER_T = 1000.0


@dataclass(frozen=True)
class StageSource:
    """Where a stage's production shares come from.

    kind: "usgs" (world table: chapter, statistics, detail prefix, unit factor to t),
    "iea" (supply[mineral][stage], kt), "table" (tables/production_shares.csv)."""

    kind: str
    chapter: str = ""
    detail: str = ""
    mineral: str = ""
    statistics: str = "Production"
    capacity_detail: str = ""  # USGS capacity rows (2025) to use, if any


@dataclass(frozen=True)
class Price:
    chapter: str
    detail: str
    factor: float  # USGS unit -> USD per t of the reference unit
    reasoning: str
    mix: tuple[tuple[str, float], ...] = ()  # other price lines and their weights


@dataclass(frozen=True)
class Total:
    """How the world total [t/year] is set: from a stage's source ("stage"), the IEA
    refining total less ``minus_t`` ("iea"), or an assumed value ("assumed")."""

    kind: str
    stage: str = ""
    value_t: float = 0.0
    minus_t: float = 0.0
    reasoning: str = ""
    source: str = ""


@dataclass(frozen=True)
class MaterialSpec:
    material: str
    name: str
    unit: str
    stages: tuple[str, ...]
    sources: dict[str, StageSource]
    total: Total
    price: Price
    utilisation: dict[str, tuple[float, str]]  # stage -> (share, reasoning)
    us_imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # stage -> (chapter, line)
    us_consumption: tuple[str, str, float] | None = None  # (chapter, detail, factor to t)
    cheng: str = ""  # Cheng et al. mineral name for the mine -> refinery prior
    # IEA mineral name: its battery share of demand weights Cheng's refinery -> cathode
    # pattern in the refining-stage prior (batteries are that share of refined use)
    iea_battery: str = ""
    note: str = ""
    # need of the stage before the last: "refining" (yield 1: the next stage's output, the
    # rule for every material but one) or "trade" (apparent use of the product from
    # observed trade; ``note_feed`` says why)
    feed_need: str = "refining"
    note_feed: str = ""


_U_MINE = (0.85, "typical mine utilisation; USGS gives no mine capacity for this material")
_U_REF = (0.80, "typical refinery utilisation; USGS gives no refinery capacity for this material")
_KT = 1000.0
_KG = 0.001

USGS = "U.S. Geological Survey, Mineral Commodity Summaries 2026 Data Release, doi:10.5066/P1WKQ63T"
IEA = "IEA, Critical Minerals Dataset (2024), CC BY 4.0"

MATERIALS: tuple[MaterialSpec, ...] = (
    MaterialSpec(
        "ree_ndpr", "Light magnet rare earths (Nd + Pr)", "t NdPr oxide", ("mining", "refining"),
        {"mining": StageSource("usgs", "RARE EARTHS", "Mine production"),
         "refining": StageSource("iea", mineral="Rare Earth Elements")},
        Total("iea", minus_t=3000.0,
              reasoning="IEA magnet rare-earth (Nd, Pr, Dy, Tb) refining total for 2024 less the "
                        "assumed Dy+Tb total (3,000 t, see ree_dytb)", source=IEA),
        Price("RARE EARTHS", "Price, average, dollars per kilogram: Neodymium-praseodymium (NdPr) "
              "oxide, 99% minimum", KG_PER_T, "NdPr oxide 99 %, USD/kg x 1000"),
        {"mining": (0.85, "Chinese mining quotas and MP/Lynas running near nameplate"),
         "refining": (0.80, "Chinese separation quotas below installed capacity")},
        us_imports={"refining": ("RARE EARTHS", "Rare-earth compounds and metals")},
        note="mining shares are USGS total rare-earth oxide mine shares: NdPr content is assumed "
             "proportional to total REO everywhere (ionic clays are NdPr-poorer: a bias to "
             "question)",
    ),
    MaterialSpec(
        "ree_dytb", "Heavy magnet rare earths (Dy + Tb)", "t DyTb oxide", ("mining", "refining"),
        {"mining": StageSource("table"), "refining": StageSource("table")},
        Total("assumed", value_t=3000.0,
              reasoning="world Dy + Tb oxide output about 3,000 t/year (roughly 2,300 t Dy2O3 and "
                        "700 t Tb4O7); USGS withholds heavy rare earths (no world table)",
              source="estimate from industry reporting; USGS has no heavy-REE world table"),
        Price("RARE EARTHS (Heavy)",
              "Price, average, dollars per kilogram: Dysprosium oxide, 99.5% minimum", KG_PER_T,
              "3 parts Dy oxide to 1 part Tb oxide (typical Dy:Tb ratio in magnet use), "
              "USD/kg x 1000",
              mix=(("Price, average, dollars per kilogram: Terbium oxide, 99.99% minimum", 0.25),)),
        {"mining": (0.85, "as ree_ndpr"), "refining": (0.80, "as ree_ndpr")},
        us_imports={"refining": ("RARE EARTHS (Heavy)", "Terbium compounds and metals")},
    ),
    MaterialSpec(
        "gallium", "Gallium (primary low-purity)", "t Ga", ("refining",),
        {"refining": StageSource("usgs", "GALLIUM", "Primary production",
                                 capacity_detail="Production capacity")},
        Total("stage", stage="refining"),
        Price("GALLIUM", "Price, average unit value of imports, dollars per kilogram", KG_PER_T,
              "US import unit value, USD/kg x 1000"),
        {"refining": (0.52, "USGS capacity 1,700 t vs 848 t output; used only for countries "
                            "without a USGS capacity row")},
        us_imports={"refining": ("GALLIUM", "Metal")},
        us_consumption=("GALLIUM", "Consumption, reported", _KG),
        note="one stage: gallium is a by-product of alumina refining; primary (low-purity) "
             "output is the controlled step",
    ),
    MaterialSpec(
        "germanium", "Germanium (refined)", "t Ge", ("refining",),
        {"refining": StageSource("table")},
        Total("assumed", value_t=140.0,
              reasoning="world refined germanium about 140 t/year (USGS last published a world "
                        "estimate of about 140 t; it withholds the world table now)",
              source="USGS Mineral Commodity Summaries (earlier editions); estimate"),
        Price("GERMANIUM", "Price, annual average, dollars per kilogram: Germanium metal", KG_PER_T,
              "germanium metal, USD/kg x 1000"),
        {"refining": (0.70, "refiners run well below capacity (zinc-residue feed limited)")},
        us_imports={"refining": ("GERMANIUM", "Combined total")},
        note="one stage: a by-product of zinc and coal; refined output is the controlled step",
    ),
    MaterialSpec(
        "graphite", "Graphite (mining: natural; refining: battery anode material)",
        "t graphite (anode-material equivalent)", ("mining", "refining"),
        {"mining": StageSource("usgs", "GRAPHITE (NATURAL)", "Mine production"),
         "refining": StageSource("iea", mineral="Graphite")},
        Total("stage", stage="refining"),
        Price("GRAPHITE (NATURAL)",
              "Price, average unit value of imports, dollars per metric ton at foreign ports: "
              "Flake", 1.0,
              "flake import unit value USD/t; anode material sells for several times more, so "
              "value at risk is understated"),
        {"mining": _U_MINE, "refining": (0.60, "Chinese anode capacity far exceeds output "
                                                 "(IEA: large overcapacity)")},
        us_imports={"mining": ("GRAPHITE (NATURAL)", "All")},
        note="the mining stage is natural graphite (flake and powder) for every use, in "
             "anode-equivalent tonnes at natural-graphite mine shares; the refining stage is "
             "anode material (synthetic-graphite feedstock, mostly Chinese needle coke, is not "
             "modelled separately)",
        feed_need="trade",
        note_feed="natural graphite goes to refractories, foundries, lubricants and brake "
                  "linings as much as to anodes, so the countries that buy it (Korea, Japan, "
                  "the US, Germany, India) are not only anode makers; outside China anode "
                  "makers hold 4 % of anode output (IEA) while they buy over half of the "
                  "world's natural-graphite exports (BACI 2504.10). A country's refining yield "
                  "is its anode output per tonne of natural graphite it takes",
    ),
    MaterialSpec(
        "antimony", "Antimony", "t Sb", ("mining", "refining"),
        {"mining": StageSource("usgs", "ANTIMONY", "Mine production"),
         "refining": StageSource("table")},
        Total("stage", stage="mining"),
        Price("ANTIMONY", "Price, metal, average, dollars per pound", LB_PER_T,
              "metal, USD/lb x 2204.62"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("ANTIMONY", "Total metal and oxide")},
    ),
    MaterialSpec(
        "tungsten", "Tungsten", "t W", ("mining", "refining"),
        {"mining": StageSource("usgs", "TUNGSTEN", "Mine production"),
         "refining": StageSource("table")},
        Total("stage", stage="mining"),
        Price("TUNGSTEN", "Price, concentrate, average in-warehouse Rotterdam, dollars per dry "
              "metric ton unit of tungsten trioxide", 100.0 / 0.7930,
              "USD per mtu WO3 (10 kg WO3) x 100 -> USD/t WO3, / 0.793 (W share of WO3) "
              "-> USD/t W"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("TUNGSTEN", "Ores, concentrates, and other forms")},
    ),
    MaterialSpec(
        "cobalt", "Cobalt", "t Co", ("mining", "refining"),
        {"mining": StageSource("usgs", "COBALT", "Mine production"),
         "refining": StageSource("iea", mineral="Cobalt")},
        Total("stage", stage="mining"),
        Price("COBALT", "Price, average, dollars per pound: London Metal Exchange (LME), cash",
              LB_PER_T, "LME cash, USD/lb x 2204.62"),
        {"mining": _U_MINE, "refining": (0.70, "refinery overcapacity in China (IEA)")},
        us_imports={"refining": ("COBALT", "Metal, oxide, and salts")},
        us_consumption=("COBALT", "Consumption (includes secondary): Apparent", 1.0),
        cheng="Cobalt", iea_battery="Cobalt",
    ),
    MaterialSpec(
        "lithium", "Lithium", "t Li", ("mining", "refining"),
        {"mining": StageSource("usgs", "LITHIUM", "Mine production"),
         "refining": StageSource("iea", mineral="Lithium")},
        Total("stage", stage="mining"),
        Price("LITHIUM", "Price, annual average-real, battery-grade lithium carbonate, dollars per "
              "metric ton", 1.0 / 0.1879,
              "battery-grade carbonate USD/t / 0.1879 (Li share of Li2CO3) -> USD/t Li"),
        {"mining": (0.75, "2024 price slump idled spodumene capacity"),
         "refining": (0.65, "Chinese conversion overcapacity (IEA)")},
        us_imports={"refining": ("LITHIUM", "All")},
        cheng="Lithium", iea_battery="Lithium",
        note="USGS withholds US mine output (W): counted as zero",
    ),
    MaterialSpec(
        "nickel", "Nickel", "t Ni", ("mining", "refining"),
        {"mining": StageSource("usgs", "NICKEL", "Mine production"),
         "refining": StageSource("iea", mineral="Nickel")},
        Total("stage", stage="mining"),
        Price("NICKEL", "Price, average annual, London Metal Exchange (LME), cash: Dollars per "
              "metric ton", 1.0, "LME cash USD/t"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("NICKEL", "Primary nickel")},
        us_consumption=("NICKEL", "Consumption: Apparent, primary", 1.0),
        cheng="Nickel", iea_battery="Nickel",
    ),
    MaterialSpec(
        "copper", "Copper", "t Cu", ("mining", "refining"),
        {"mining": StageSource("usgs", "COPPER", "Mine production"),
         "refining": StageSource("usgs", "COPPER", "Refinery production")},
        Total("stage", stage="mining"),
        Price("COPPER", "Price, annual average, cents per pound: London Metal Exchange, grade A, "
              "cash", LB_PER_T / 100.0, "LME grade A cash, US cents/lb x 22.0462"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("COPPER", "Refined copper")},
        us_consumption=("COPPER", "Consumption: Apparent, primary refined copper and copper from "
                        "old scrap", _KT),
        note="refining shares from USGS refinery output, which includes secondary refining; "
             "applied to the primary (mine) total",
    ),
    MaterialSpec(
        "manganese", "Manganese", "t Mn", ("mining", "refining"),
        {"mining": StageSource("usgs", "MANGANESE", "Mine production"),
         "refining": StageSource("table")},
        Total("stage", stage="mining"),
        Price("MANGANESE",
              "Price, average, manganese content, cost, insurance, and freight, China, dollars per "
              "metric ton unit", 100.0,
              "ore CIF China, USD per mtu (10 kg Mn) x 100 -> USD/t Mn"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("MANGANESE",
                                 "Manganese contained in principal manganese imports")},
        us_consumption=("MANGANESE", "Consumption, apparent, manganese content", _KT),
        cheng="Manganese",
        note="refining = alloy smelting and chemical processing (ferro- and silicomanganese, "
             "electrolytic metal, sulfate)",
    ),
    MaterialSpec(
        "indium", "Indium (refined)", "t In", ("refining",),
        {"refining": StageSource("usgs", "INDIUM", "Refinery production",
                                 capacity_detail="Refinery capacity")},
        Total("stage", stage="refining"),
        Price("INDIUM",
              "Price, annual average, dollars per kilogram: U.S. warehouse, free on board",
              KG_PER_T, "US warehouse, USD/kg x 1000"),
        {"refining": (0.64, "USGS world capacity 1,700 t vs output 1,090 t")},
        us_imports={"refining": ("INDIUM", "All")},
        note="one stage: a by-product of zinc refining",
    ),
    MaterialSpec(
        "bismuth", "Bismuth (refined)", "t Bi", ("refining",),
        {"refining": StageSource("usgs", "BISMUTH", "Refinery production")},
        Total("stage", stage="refining"),
        Price("BISMUTH", "Price, average, dollars per pound", LB_PER_T, "USD/lb x 2204.62"),
        {"refining": (0.75, "USGS capacity rows are empty; by-product refiners assumed at 75 %")},
        us_imports={"refining": ("BISMUTH", "All")},
        us_consumption=("BISMUTH", "Consumption: Apparent", 1.0),
        note="one stage: a by-product of lead and tungsten ore; USGS gives refinery output only",
    ),
    MaterialSpec(
        "tellurium", "Tellurium (refined)", "t Te", ("refining",),
        {"refining": StageSource("usgs", "TELLURIUM", "Refinery production",
                                 capacity_detail="Refinery capacity")},
        Total("stage", stage="refining"),
        Price("TELLURIUM", "Price, annual average, dollars per kilogram: United States", KG_PER_T,
              "US price, USD/kg x 1000"),
        {"refining": (0.75, "USGS world capacity 1,300 t vs output 981 t")},
        us_imports={"refining": ("TELLURIUM", "All")},
        note="one stage: a by-product of copper refining (anode slimes); US output withheld (W)",
    ),
    MaterialSpec(
        "molybdenum", "Molybdenum", "t Mo", ("mining", "refining"),
        {"mining": StageSource("usgs", "MOLYBDENUM", "Mine production"),
         "refining": StageSource("table")},
        Total("stage", stage="mining"),
        Price("MOLYBDENUM", "Price, average, dollars per kilogram", KG_PER_T,
              "USD/kg Mo x 1000"),
        {"mining": _U_MINE, "refining": _U_REF},
        us_imports={"refining": ("MOLYBDENUM", "Total")},
        us_consumption=("MOLYBDENUM", "Consumption: Apparent", 1.0),
        note="refining = roasting of concentrate to technical oxide and ferromolybdenum",
    ),
)

# Government stockpiles, as days of final-stage use (targets; actual holdings undisclosed).
STOCK_POLICIES = (
    ("JPN", 60.0, "JOGMEC rare-metal stockpile target: 60 days of domestic use (holdings by "
                  "metal are not published; the target is used as the holding)",
     "JOGMEC / METI rare-metal stockpiling policy (target 60 days)"),
    ("KOR", 100.0, "KOMIR (Korea Mine Rehabilitation and Mineral Resources Corp.) target of "
                   "about 100 days of use by 2031; current holdings below target and not "
                   "published by metal",
     "KOMIR strategic stockpile target (100 days), Korean Ministry of Trade, Industry and Energy"),
)
# Copper and graphite are outside both rare-metal programmes.
STOCK_EXCLUDED = ("copper", "graphite")
STOCK_RELEASE_MONTHS = 3.0  # a stockpile can release at most 1/3 of its holding per month
# Holdings exist but no figure is in the build's sources: zero rows, marked unknown.
STOCK_UNKNOWN = (
    ("USA", "unknown: US National Defense Stockpile inventories are published in the MCS "
            "chapter texts (Government Stockpile), not in the data release the build reads; "
            "set to zero"),
    ("CHN", "unknown: China's state reserve (National Food and Strategic Reserves "
            "Administration) does not publish holdings; set to zero"),
)

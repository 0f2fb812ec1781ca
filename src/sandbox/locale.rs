//! Word lists the data set draws from, one set per database: surnames and
//! trade words for company names, legal forms, cities with postal code
//! styles and coordinates. Plain tables; no generation logic lives here.

/// A legal form: the suffix a name carries and the `legal_entity` text.
pub(crate) struct LegalForm {
    pub suffix: &'static str,
    pub entity: &'static str,
}

/// How postal codes look in a country.
#[derive(Clone, Copy)]
pub(crate) enum PostalStyle {
    /// `00100`
    Five,
    /// `114 55`
    SplitFive,
    /// `0150`
    Four,
    /// `1012 AB`
    FourLetters,
}

/// A city: name, the numeric start of its postal codes, lon/lat in micro-degrees.
pub(crate) struct City {
    pub name: &'static str,
    pub postal_base: u32,
    pub lon_micro: i64,
    pub lat_micro: i64,
}

/// Everything country-specific the generator needs.
pub(crate) struct Locale {
    pub surnames: &'static [&'static str],
    pub words: &'static [&'static str],
    pub forms: &'static [LegalForm],
    pub cities: &'static [City],
    pub postal: PostalStyle,
}

const fn form(suffix: &'static str, entity: &'static str) -> LegalForm {
    LegalForm { suffix, entity }
}

const fn city(name: &'static str, postal_base: u32, lon_micro: i64, lat_micro: i64) -> City {
    City {
        name,
        postal_base,
        lon_micro,
        lat_micro,
    }
}

const FI: Locale = Locale {
    surnames: &[
        "Mäkelä",
        "Virtanen",
        "Järvinen",
        "Heikkilä",
        "Nieminen",
        "Kärkkäinen",
        "Hämäläinen",
        "Lähteenmäki",
        "Söderström",
        "Ylä-Jääski",
        "Korhonen",
        "Öhman",
    ],
    words: &[
        "Rakennus",
        "Konsultointi",
        "Kiinteistöt",
        "Ohjelmistot",
        "Kuljetus",
        "Sähkö",
        "Metsä",
        "Kahvila",
        "Tilitoimisto",
        "Teknologia",
        "Välitys",
        "Päällystys",
    ],
    forms: &[
        form("Oy", "Osakeyhtiö"),
        form("Oy", "Osakeyhtiö"),
        form("Ky", "Kommandiittiyhtiö"),
        form("Tmi", "Toiminimi"),
        form("Ay", "Avoin yhtiö"),
        form("Oyj", "Julkinen osakeyhtiö"),
    ],
    cities: &[
        city("Helsinki", 100, 24_938_400, 60_169_900),
        city("Espoo", 2100, 24_655_900, 60_205_200),
        city("Tampere", 33100, 23_761_000, 61_497_800),
        city("Oulu", 90100, 25_465_100, 65_012_100),
        city("Jyväskylä", 40100, 25_747_300, 62_242_600),
        city("Åbo", 20100, 22_266_900, 60_451_800),
    ],
    postal: PostalStyle::Five,
};

const SE: Locale = Locale {
    surnames: &[
        "Åkesson",
        "Lindström",
        "Björklund",
        "Öberg",
        "Sjöberg",
        "Hägglund",
        "Nordén",
        "Ekström",
        "Källström",
        "Sandén",
    ],
    words: &[
        "Bygg",
        "Konsult",
        "Fastigheter",
        "Data",
        "Transport",
        "Elektriska",
        "Skog",
        "Café",
        "Redovisning",
        "Måleri",
    ],
    forms: &[
        form("AB", "Aktiebolag"),
        form("AB", "Aktiebolag"),
        form("HB", "Handelsbolag"),
        form("KB", "Kommanditbolag"),
        form("(publ)", "Publikt aktiebolag"),
    ],
    cities: &[
        city("Stockholm", 11100, 18_068_600, 59_329_300),
        city("Göteborg", 41100, 11_974_600, 57_708_900),
        city("Malmö", 21100, 13_003_800, 55_605_000),
        city("Västerås", 72200, 16_544_800, 59_609_900),
        city("Umeå", 90300, 20_263_000, 63_825_800),
    ],
    postal: PostalStyle::SplitFive,
};

const NO: Locale = Locale {
    surnames: &[
        "Ødegård",
        "Bjørnstad",
        "Hågensen",
        "Sæther",
        "Løvås",
        "Strøm",
        "Aas",
        "Dæhli",
        "Kråkenes",
        "Haugen",
    ],
    words: &[
        "Bygg",
        "Rådgivning",
        "Eiendom",
        "Programvare",
        "Transport",
        "Elektro",
        "Skog",
        "Kafé",
        "Regnskap",
        "Fiskeri",
    ],
    forms: &[
        form("AS", "Aksjeselskap"),
        form("AS", "Aksjeselskap"),
        form("ASA", "Allmennaksjeselskap"),
        form("ENK", "Enkeltpersonforetak"),
        form("ANS", "Ansvarlig selskap"),
    ],
    cities: &[
        city("Oslo", 150, 10_752_200, 59_913_900),
        city("Bergen", 5003, 5_322_100, 60_391_300),
        city("Trondheim", 7010, 10_395_100, 63_430_500),
        city("Tromsø", 9008, 18_955_300, 69_649_200),
        city("Bærum", 1337, 10_526_500, 59_894_200),
    ],
    postal: PostalStyle::Four,
};

const DK: Locale = Locale {
    surnames: &[
        "Jørgensen",
        "Sørensen",
        "Kjær",
        "Møller",
        "Bæk",
        "Æbelø",
        "Højgaard",
        "Frederiksen",
        "Thygesen",
        "Lund",
    ],
    words: &[
        "Byg",
        "Rådgivning",
        "Ejendomme",
        "Software",
        "Transport",
        "El",
        "Skov",
        "Café",
        "Revision",
        "Tømrer",
    ],
    forms: &[
        form("ApS", "Anpartsselskab"),
        form("ApS", "Anpartsselskab"),
        form("A/S", "Aktieselskab"),
        form("I/S", "Interessentskab"),
        form("IVS", "Iværksætterselskab"),
    ],
    cities: &[
        city("København", 1050, 12_568_300, 55_676_100),
        city("Aarhus", 8000, 10_203_900, 56_162_900),
        city("Odense", 5000, 10_402_800, 55_403_800),
        city("Aalborg", 9000, 9_921_700, 57_048_800),
        city("Køge", 4600, 12_182_500, 55_458_000),
    ],
    postal: PostalStyle::Four,
};

const NL: Locale = Locale {
    surnames: &[
        "de Vries",
        "van den Berg",
        "Jansen",
        "Bakker",
        "Visser",
        "Smit",
        "Müller",
        "Dijkstra",
        "’t Hooft",
        "Brouwer",
    ],
    words: &[
        "Bouw",
        "Advies",
        "Vastgoed",
        "Software",
        "Transport",
        "Elektro",
        "Café",
        "Techniek",
        "Administratie",
        "Logistiek",
    ],
    forms: &[
        form("B.V.", "Besloten vennootschap"),
        form("B.V.", "Besloten vennootschap"),
        form("N.V.", "Naamloze vennootschap"),
        form("V.O.F.", "Vennootschap onder firma"),
        form("Eenmanszaak", "Eenmanszaak"),
    ],
    cities: &[
        city("Amsterdam", 1011, 4_904_100, 52_367_600),
        city("Rotterdam", 3011, 4_477_700, 51_924_400),
        city("Utrecht", 3511, 5_121_400, 52_090_700),
        city("Den Haag", 2511, 4_300_700, 52_070_500),
        city("Eindhoven", 5611, 5_469_700, 51_441_600),
    ],
    postal: PostalStyle::FourLetters,
};

/// The locale of a database code; unknown codes get the Finnish one.
pub(crate) fn locale(database: &str) -> &'static Locale {
    match database {
        "SE" => &SE,
        "NO" => &NO,
        "DK" => &DK,
        "NL" => &NL,
        _ => &FI,
    }
}

/// Industry codes (TOL/SNI/NACE style, kept as strings) with descriptions.
pub(crate) const INDUSTRIES: &[(&str, &str)] = &[
    ("62010", "Computer programming activities"),
    ("62020", "Computer consultancy activities"),
    ("41200", "Construction of residential and non-residential buildings"),
    ("43210", "Electrical installation"),
    ("47110", "Retail sale in non-specialised stores"),
    ("49410", "Freight transport by road"),
    ("56101", "Restaurants"),
    ("68201", "Renting and operating of own or leased real estate"),
    ("69201", "Accounting and bookkeeping activities"),
    ("70200", "Management consultancy activities"),
    ("02100", "Silviculture and other forestry activities"),
    ("72190", "Other research and experimental development"),
    // Division-level codes too, so SPEC's example `?EQ official_industries.code = "62"` matches.
    ("62", "Computer programming, consultancy and related activities"),
    ("70", "Activities of head offices; management consultancy activities"),
];

/// Technology names, lower case as Vainu's examples query them.
pub(crate) const TECHNOLOGIES: &[&str] = &[
    "shopify",
    "wordpress",
    "google analytics",
    "hubspot",
    "microsoft 365",
    "salesforce",
    "react",
    "cloudflare",
    "mailchimp",
    "wix",
    "magento",
    "zendesk",
];

"""Data tables the demo draws from: names, Berlin places, occupations and the words staff use.

The demo business is a Berlin operator of connected services (rides, deliveries and smart-home
devices), so the people, streets and places are Berlin's. Every table is a plain tuple; weights,
where given, are relative.
"""

from __future__ import annotations

# fmt: off

# --- people -------------------------------------------------------------------------------------

#: (first name, weight) by gender; the mix reflects Berlin's population.
FEMALE_FIRST_NAMES: tuple[tuple[str, int], ...] = (
    ("Anna", 9), ("Marie", 9), ("Sophie", 8), ("Laura", 7), ("Lea", 6), ("Julia", 8), ("Katharina", 6),
    ("Sarah", 7), ("Lena", 7), ("Hannah", 6), ("Emma", 6), ("Mia", 5), ("Johanna", 5), ("Charlotte", 5),
    ("Clara", 5), ("Franziska", 4), ("Sabine", 5), ("Petra", 4), ("Monika", 4), ("Ursula", 3), ("Birgit", 3),
    ("Claudia", 4), ("Susanne", 4), ("Andrea", 4), ("Nicole", 4), ("Stefanie", 4), ("Christina", 4),
    ("Jana", 4), ("Ayşe", 3), ("Elif", 3), ("Zeynep", 3), ("Fatma", 2), ("Merve", 2), ("Leyla", 2),
    ("Aleksandra", 2), ("Katarzyna", 2), ("Magdalena", 2), ("Olga", 2), ("Natalia", 2), ("Svetlana", 1),
    ("Giulia", 2), ("Francesca", 1), ("Sofia", 2), ("Lucía", 1), ("Maria", 4), ("Linh", 2), ("Mai", 1),
    ("Yasmin", 2), ("Amira", 2), ("Noor", 1), ("Emily", 2), ("Chloé", 1), ("Priya", 1), ("Ingrid", 2),
    ("Renate", 2), ("Gisela", 2), ("Helga", 2), ("Karin", 3), ("Heike", 3), ("Ines", 2), ("Paula", 3),
)
MALE_FIRST_NAMES: tuple[tuple[str, int], ...] = (
    ("Lukas", 8), ("Leon", 7), ("Felix", 7), ("Jonas", 7), ("Maximilian", 6), ("Paul", 7), ("Finn", 5),
    ("Elias", 5), ("Noah", 5), ("Ben", 5), ("Tim", 5), ("Jan", 6), ("Tobias", 5), ("Sebastian", 6),
    ("Florian", 5), ("Alexander", 6), ("Michael", 7), ("Thomas", 7), ("Andreas", 6), ("Stefan", 6),
    ("Markus", 5), ("Christian", 6), ("Daniel", 6), ("Matthias", 5), ("Frank", 4), ("Jürgen", 3),
    ("Klaus", 3), ("Wolfgang", 3), ("Uwe", 3), ("Dieter", 2), ("Mehmet", 3), ("Mustafa", 2), ("Emre", 2),
    ("Can", 2), ("Murat", 2), ("Ali", 2), ("Omar", 2), ("Karim", 2), ("Piotr", 2), ("Tomasz", 2),
    ("Jakub", 2), ("Dmitri", 1), ("Sergei", 1), ("Ivan", 1), ("Marco", 2), ("Luca", 2), ("Matteo", 1),
    ("Carlos", 1), ("Diego", 1), ("Minh", 2), ("Duc", 1), ("Rahul", 1), ("Arjun", 1), ("James", 1),
    ("Oliver", 3), ("Samuel", 2), ("Hans", 2), ("Günter", 2), ("Horst", 2), ("Rolf", 2), ("Moritz", 3),
)
NEUTRAL_FIRST_NAMES: tuple[tuple[str, int], ...] = (
    ("Alex", 3), ("Kim", 2), ("Robin", 2), ("Charlie", 1), ("Sascha", 2), ("Mika", 2), ("Noa", 1), ("Kai", 2),
    ("Sam", 2), ("Toni", 1), ("Jule", 1), ("Luca", 1),
)

LAST_NAMES: tuple[tuple[str, int], ...] = (
    ("Müller", 12), ("Schmidt", 11), ("Schneider", 8), ("Fischer", 8), ("Weber", 7), ("Meyer", 7),
    ("Wagner", 6), ("Becker", 6), ("Schulz", 7), ("Hoffmann", 6), ("Schäfer", 5), ("Koch", 5), ("Bauer", 5),
    ("Richter", 5), ("Klein", 5), ("Wolf", 5), ("Schröder", 5), ("Neumann", 5), ("Schwarz", 4),
    ("Zimmermann", 4), ("Braun", 4), ("Krüger", 4), ("Hofmann", 4), ("Hartmann", 4), ("Lange", 4),
    ("Werner", 4), ("Krause", 5), ("Meier", 4), ("Lehmann", 5), ("Schulze", 5), ("Köhler", 3),
    ("Herrmann", 3), ("König", 3), ("Walter", 3), ("Kaiser", 3), ("Fuchs", 3), ("Peters", 3), ("Lang", 3),
    ("Scholz", 3), ("Möller", 3), ("Weiß", 3), ("Jung", 3), ("Hahn", 3), ("Schubert", 3), ("Vogel", 3),
    ("Friedrich", 3), ("Keller", 3), ("Günther", 3), ("Frank", 2), ("Berger", 3), ("Winkler", 2), ("Roth", 2),
    ("Beck", 2), ("Lorenz", 2), ("Baumann", 2), ("Franke", 2), ("Albrecht", 2), ("Yılmaz", 4), ("Kaya", 3),
    ("Demir", 3), ("Şahin", 2), ("Çelik", 2), ("Yıldız", 2), ("Öztürk", 2), ("Aydın", 2), ("Kowalski", 2),
    ("Nowak", 2), ("Wiśniewski", 1), ("Lewandowski", 1), ("Petrov", 1), ("Smirnov", 1), ("Rossi", 1),
    ("Russo", 1), ("Bianchi", 1), ("García", 1), ("Fernández", 1), ("Nguyen", 3), ("Tran", 2), ("Pham", 1),
    ("Hoang", 1), ("Khan", 1), ("Haddad", 1), ("Nasser", 1), ("Ahmadi", 1), ("Hosseini", 1), ("Smith", 1),
    ("Jensen", 1), ("Andersson", 1), ("Dubois", 1),
)

#: Mail domains reserved for documentation (RFC 2606), so no demo address can reach a real inbox.
MAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("example.com", 5), ("example.net", 3), ("example.org", 2), ("mail.example", 3), ("post.example", 2),
    ("web.example", 2),
)

#: German letters and a few others, spelt out for e-mail local parts and handles.
ASCII_SPELLING = {
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ı": "i", "İ": "I", "ş": "s",
    "Ş": "S", "ç": "c", "Ç": "C", "ğ": "g", "ś": "s", "ł": "l", "é": "e", "í": "i", "á": "a",
}

MOBILE_PREFIXES = (
    "151", "152", "157", "159", "160", "162", "163", "170", "171", "172", "173", "174", "175", "176", "177",
    "178", "179",
)

LANGUAGES: tuple[tuple[str, int], ...] = (("de", 70), ("en", 18), ("tr", 6), ("pl", 2), ("ru", 2), ("ar", 2))

# --- work -------------------------------------------------------------------------------------------

#: occupation -> (income index 0..4, tech affinity 0..1); grouped by the education that usually leads there.
OCCUPATIONS_BY_EDUCATION: dict[str, tuple[tuple[str, int, float], ...]] = {
    "primary": (
        ("warehouse worker", 0, 0.2), ("cleaner", 0, 0.1), ("kitchen assistant", 0, 0.2), ("courier", 1, 0.4),
        ("security guard", 1, 0.2),
    ),
    "secondary": (
        ("retail assistant", 1, 0.3), ("bus driver", 1, 0.2), ("cashier", 0, 0.2), ("cook", 1, 0.2),
        ("caregiver", 1, 0.2), ("call-centre agent", 1, 0.4), ("delivery driver", 1, 0.4),
    ),
    "vocational": (
        ("electrician", 2, 0.5), ("nurse", 2, 0.3), ("car mechanic", 2, 0.4), ("carpenter", 2, 0.3),
        ("hairdresser", 1, 0.2), ("office clerk", 2, 0.4), ("paramedic", 2, 0.3), ("chef", 2, 0.2),
        ("plumber", 2, 0.3), ("bank clerk", 2, 0.4), ("police officer", 2, 0.3), ("IT technician", 2, 0.9),
    ),
    "bachelor": (
        ("software developer", 3, 0.95), ("marketing manager", 3, 0.6), ("teacher", 2, 0.4),
        ("accountant", 2, 0.4), ("UX designer", 3, 0.9), ("social worker", 2, 0.3),
        ("sales representative", 2, 0.5), ("project manager", 3, 0.6), ("journalist", 2, 0.6),
        ("physiotherapist", 2, 0.3),
    ),
    "master": (
        ("data scientist", 3, 0.95), ("architect", 3, 0.5), ("mechanical engineer", 3, 0.7),
        ("product manager", 3, 0.85), ("management consultant", 4, 0.6), ("lawyer", 4, 0.3),
        ("psychologist", 3, 0.3), ("financial analyst", 3, 0.6),
    ),
    "doctorate": (
        ("physician", 4, 0.4), ("research scientist", 3, 0.8), ("university lecturer", 3, 0.5),
        ("pharmacist", 3, 0.4), ("chemist", 3, 0.6),
    ),
}

# --- Berlin -------------------------------------------------------------------------------------------

#: district -> (latitude, longitude, postcodes, streets, "green" lean 0..1)
DISTRICTS: dict[str, tuple[float, float, tuple[str, ...], tuple[str, ...], float]] = {
    "Mitte": (
        52.52, 13.405, ("10115", "10117", "10178", "10119"),
        (
            "Torstraße", "Rosenthaler Straße", "Invalidenstraße", "Chausseestraße", "Linienstraße",
            "Alte Schönhauser Straße",
        ),
        0.5,
    ),
    "Prenzlauer Berg": (
        52.539, 13.424, ("10405", "10435", "10437", "10439"),
        (
            "Kastanienallee", "Schönhauser Allee", "Danziger Straße", "Greifswalder Straße", "Kollwitzstraße",
            "Stargarder Straße",
        ),
        0.7,
    ),
    "Friedrichshain": (
        52.515, 13.454, ("10243", "10245", "10247", "10249"),
        (
            "Boxhagener Straße", "Warschauer Straße", "Simon-Dach-Straße", "Frankfurter Allee",
            "Grünberger Straße", "Wühlischstraße",
        ),
        0.7,
    ),
    "Kreuzberg": (
        52.499, 13.403, ("10961", "10997", "10999", "10967"),
        (
            "Oranienstraße", "Bergmannstraße", "Wiener Straße", "Skalitzer Straße", "Gneisenaustraße",
            "Manteuffelstraße",
        ),
        0.7,
    ),
    "Neukölln": (
        52.481, 13.435, ("12043", "12045", "12047", "12049"),
        ("Sonnenallee", "Karl-Marx-Straße", "Weserstraße", "Hermannstraße", "Pannierstraße", "Reuterstraße"),
        0.5,
    ),
    "Charlottenburg": (
        52.516, 13.304, ("10585", "10627", "10629", "14059"),
        (
            "Kantstraße", "Wilmersdorfer Straße", "Bismarckstraße", "Mommsenstraße", "Kaiserdamm",
            "Knesebeckstraße",
        ),
        0.4,
    ),
    "Schöneberg": (
        52.483, 13.353, ("10777", "10781", "10827", "10823"),
        (
            "Akazienstraße", "Goltzstraße", "Hauptstraße", "Potsdamer Straße", "Winterfeldtstraße",
            "Crellestraße",
        ),
        0.5,
    ),
    "Moabit": (
        52.53, 13.342, ("10551", "10553", "10555", "10559"),
        ("Turmstraße", "Stromstraße", "Beusselstraße", "Huttenstraße", "Waldstraße", "Birkenstraße"), 0.4,
    ),
    "Wedding": (
        52.55, 13.36, ("13347", "13349", "13353", "13357"),
        ("Müllerstraße", "Seestraße", "Badstraße", "Osloer Straße", "Prinzenallee", "Brunnenstraße"), 0.4,
    ),
    "Pankow": (
        52.569, 13.402, ("13187", "13189", "13156"),
        ("Breite Straße", "Florastraße", "Berliner Straße", "Wollankstraße", "Mühlenstraße", "Schulstraße"),
        0.4,
    ),
    "Steglitz": (
        52.457, 13.322, ("12163", "12165", "12167", "12169"),
        (
            "Schloßstraße", "Albrechtstraße", "Grunewaldstraße", "Düppelstraße", "Birkbuschstraße",
            "Lepsiusstraße",
        ),
        0.3,
    ),
    "Tempelhof": (
        52.466, 13.385, ("12099", "12101", "12103", "12105"),
        (
            "Tempelhofer Damm", "Manfred-von-Richthofen-Straße", "Friedrich-Karl-Straße", "Alt-Tempelhof",
            "Kaiserin-Augusta-Straße", "Bayernring",
        ),
        0.3,
    ),
    "Treptow": (
        52.492, 13.47, ("12435", "12437"),
        (
            "Puschkinallee", "Elsenstraße", "Karl-Kunger-Straße", "Bouchéstraße", "Kiefholzstraße",
            "Plesser Straße",
        ),
        0.5,
    ),
    "Lichtenberg": (
        52.515, 13.499, ("10315", "10365", "10367", "10369"),
        (
            "Möllendorffstraße", "Weitlingstraße", "Siegfriedstraße", "Rummelsburger Straße",
            "Landsberger Allee", "Frankfurter Allee",
        ),
        0.3,
    ),
    "Spandau": (
        52.535, 13.2, ("13581", "13583", "13585", "13597"),
        (
            "Carl-Schurz-Straße", "Klosterstraße", "Seegefelder Straße", "Falkenseer Chaussee",
            "Neuendorfer Straße", "Pichelsdorfer Straße",
        ),
        0.2,
    ),
    "Zehlendorf": (
        52.434, 13.259, ("14163", "14165", "14167", "14169"),
        (
            "Clayallee", "Teltower Damm", "Potsdamer Chaussee", "Argentinische Allee", "Onkel-Tom-Straße",
            "Berliner Straße",
        ),
        0.3,
    ),
    "Köpenick": (
        52.445, 13.575, ("12555", "12557", "12559"),
        (
            "Bahnhofstraße", "Friedrichshagener Straße", "Lindenstraße", "Grünauer Straße",
            "Müggelheimer Straße", "Alt-Köpenick",
        ),
        0.3,
    ),
    "Marzahn": (
        52.545, 13.564, ("12679", "12681", "12685", "12687"),
        (
            "Marzahner Promenade", "Allee der Kosmonauten", "Märkische Allee", "Raoul-Wallenberg-Straße",
            "Landsberger Allee", "Poelchaustraße",
        ),
        0.1,
    ),
    "Reinickendorf": (
        52.589, 13.326, ("13403", "13405", "13407", "13409"),
        (
            "Residenzstraße", "Scharnweberstraße", "Ollenhauerstraße", "Hermsdorfer Straße",
            "Alt-Reinickendorf", "Berliner Straße",
        ),
        0.2,
    ),
    "Friedenau": (
        52.471, 13.332, ("12159", "12161"),
        ("Rheinstraße", "Bundesallee", "Handjerystraße", "Südwestkorso", "Stubenrauchstraße", "Niedstraße"),
        0.5,
    ),
}

#: district weights: roughly where Berliners live.
DISTRICT_WEIGHTS = {
    "Mitte": 7, "Prenzlauer Berg": 8, "Friedrichshain": 7, "Kreuzberg": 8, "Neukölln": 9, "Charlottenburg": 7,
    "Schöneberg": 6, "Moabit": 5, "Wedding": 6, "Pankow": 5, "Steglitz": 5, "Tempelhof": 5, "Treptow": 4,
    "Lichtenberg": 5, "Spandau": 4, "Zehlendorf": 3, "Köpenick": 3, "Marzahn": 3, "Reinickendorf": 4,
    "Friedenau": 3,
}

#: where people work: (name, latitude, longitude, address)
WORKPLACES: tuple[tuple[str, float, float, str], ...] = (
    ("Potsdamer Platz", 52.5096, 13.376, "Potsdamer Platz 1, 10785 Berlin"),
    ("Friedrichstraße", 52.52, 13.388, "Friedrichstraße 95, 10117 Berlin"),
    ("WISTA Adlershof", 52.431, 13.533, "Rudower Chaussee 17, 12489 Berlin"),
    ("Mediaspree", 52.505, 13.439, "Stralauer Allee 6, 10245 Berlin"),
    ("Siemensstadt", 52.539, 13.264, "Nonnendammallee 101, 13629 Berlin"),
    ("Charité Campus Mitte", 52.526, 13.377, "Charitéplatz 1, 10117 Berlin"),
    ("TU Berlin", 52.5125, 13.3269, "Straße des 17. Juni 135, 10623 Berlin"),
    ("Alexanderplatz", 52.5219, 13.4132, "Alexanderplatz 1, 10178 Berlin"),
    ("EUREF-Campus", 52.484, 13.356, "Torgauer Straße 12, 10829 Berlin"),
    ("BER Airport", 52.3667, 13.5033, "Melli-Beese-Ring 1, 12529 Schönefeld"),
    ("Kurfürstendamm", 52.503, 13.328, "Kurfürstendamm 21, 10719 Berlin"),
    ("Humboldthain Technology Park", 52.544, 13.384, "Gustav-Meyer-Allee 25, 13355 Berlin"),
)

#: favourite spots: (label, name, latitude, longitude, address)
FAVOURITE_SPOTS: tuple[tuple[str, str, float, float, str], ...] = (
    ("favourite shop", "KaDeWe", 52.5016, 13.3411, "Tauentzienstraße 21-24, 10789 Berlin"),
    ("favourite shop", "Markthalle Neun", 52.5024, 13.4318, "Eisenbahnstraße 42/43, 10997 Berlin"),
    ("favourite shop", "Mall of Berlin", 52.5104, 13.3806, "Leipziger Platz 12, 10117 Berlin"),
    ("favourite shop", "ALEXA", 52.5196, 13.4149, "Grunerstraße 20, 10179 Berlin"),
    ("favourite shop", "Bikini Berlin", 52.5053, 13.3365, "Budapester Straße 38-50, 10787 Berlin"),
    ("favourite shop", "Boxhagener Platz market", 52.5106, 13.4593, "Boxhagener Platz, 10245 Berlin"),
    ("favourite shop", "Schloss-Straßen-Center", 52.4589, 13.3235, "Walther-Schreiber-Platz 1, 12161 Berlin"),
    ("station", "Berlin Hauptbahnhof", 52.5251, 13.3694, "Europaplatz 1, 10557 Berlin"),
    ("station", "Südkreuz", 52.4753, 13.3654, "Hildegard-Knef-Platz 1, 10829 Berlin"),
    ("airport", "BER Airport", 52.3667, 13.5033, "Melli-Beese-Ring 1, 12529 Schönefeld"),
    ("gym", "Gym at Tempelhofer Feld", 52.473, 13.401, "Columbiadamm 10, 12101 Berlin"),
    ("gym", "Climbing hall Magic Mountain", 52.549, 13.395, "Böttgerstraße 20-26, 13357 Berlin"),
    ("park", "Mauerpark", 52.5432, 13.4023, "Bernauer Straße 63, 13355 Berlin"),
    ("park", "Tiergarten", 52.5145, 13.3501, "Straße des 17. Juni, 10557 Berlin"),
)

# --- staff --------------------------------------------------------------------------------------------

#: (full name, e-mail local part, role); the demo login is added separately.
STAFF: tuple[tuple[str, str, str], ...] = (
    ("Katrin Vogel", "katrin.vogel", "owner"), ("Miriam Albers", "miriam.albers", "manager"),
    ("Jonas Reuter", "jonas.reuter", "manager"), ("Aylin Doğan", "aylin.dogan", "agent"),
    ("Felix Brandt", "felix.brandt", "agent"), ("Lena Hoffmann", "lena.hoffmann", "agent"),
    ("Tomasz Nowicki", "tomasz.nowicki", "agent"), ("Sophie Wendt", "sophie.wendt", "agent"),
    ("Karim Haddad", "karim.haddad", "agent"), ("Nora Lindqvist", "nora.lindqvist", "analyst"),
    ("Paul Gerber", "paul.gerber", "viewer"),
)

# --- what customers and staff talk about ---------------------------------------------------------------

#: service line -> (ticket kind, category, subject, description)
TICKET_TOPICS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "rides": (
        (
            "complaint", "rides", "Driver took a long detour",
            "The driver ignored the suggested route and the fare came out almost twice the estimate.",
        ),
        (
            "complaint", "rides", "Driver did not show up",
            "I waited 15 minutes at the pick-up point, the car never came and I was still charged a "
            "cancellation fee.",
        ),
        (
            "request", "rides", "Lost item in the car",
            "I left my umbrella and a scarf on the back seat of my last ride. Can the driver return them?",
        ),
        (
            "question", "rides", "Receipt for a business ride",
            "I need a VAT receipt with my company's name for a ride last week.",
        ),
        ("complaint", "rides", "Car was not clean", "The car smelled of smoke and the seats were dirty."),
    ),
    "delivery": (
        ("complaint", "delivery", "Order arrived incomplete", "Two items of my grocery order were missing."),
        (
            "complaint", "delivery", "Delivery very late",
            "The order arrived 70 minutes after the promised window and the frozen food had thawed.",
        ),
        (
            "request", "delivery", "Change delivery address",
            "Please deliver my scheduled order to my office instead of home this Friday.",
        ),
        ("complaint", "delivery", "Package damaged", "The box was crushed and a glass bottle inside broke."),
        (
            "question", "delivery", "Can the courier leave it with a neighbour?",
            "I am not home tomorrow; may the courier leave the parcel with my neighbour?",
        ),
    ),
    "smart-home": (
        (
            "incident", "smart-home", "Thermostat shows offline",
            "The living-room thermostat has been offline since yesterday; restarting the hub did not help.",
        ),
        (
            "incident", "smart-home", "Hub firmware update failed",
            "The hub stopped at 63 % during the update and now blinks red.",
        ),
        ("request", "smart-home", "Pair a second door sensor", "How do I add another door sensor to my hub?"),
        (
            "complaint", "smart-home", "Heating schedule ignored",
            "The heating switched on at 3 am although the schedule says 6 am.",
        ),
        (
            "incident", "smart-home", "Smoke alarm false alerts",
            "The kitchen smoke alarm sends alerts every evening without any smoke.",
        ),
    ),
    "billing": (
        ("complaint", "billing", "Charged twice for one ride", "My card shows the same ride twice."),
        (
            "question", "billing", "Subscription renewal date",
            "When does my Plus plan renew, and can I pay yearly?",
        ),
        (
            "request", "billing", "Refund for cancelled order",
            "I cancelled the order before it was picked up but was charged anyway.",
        ),
        (
            "complaint", "billing", "Promo code not applied",
            "The code from the newsletter was accepted but no discount appeared.",
        ),
    ),
    "account": (
        ("request", "account", "Change my e-mail address", "Please update my login e-mail address."),
        (
            "incident", "account", "Cannot log in to the app",
            "The app says my password is wrong right after I reset it.",
        ),
        (
            "request", "account", "Delete my payment card",
            "Please remove my old credit card from the account.",
        ),
    ),
}

TICKET_REPLIES = (
    "Thank you for reaching out. I have looked into it and will get back to you today.",
    "Sorry for the trouble. I have asked the team to check this and will update you shortly.",
    "Could you send us a photo and the order number, please?",
    "We have refunded the amount; it should appear on your statement within 3-5 working days.",
    "Our technician restarted the device remotely; please check whether it is back online.",
    "I have passed this on to our driver-quality team.",
)

SATISFACTION_COMMENTS = {
    1: ("Nobody really helped.", "Took far too long.", "Still not fixed."),
    2: ("Slow answer.", "Refund was only partial."), 3: ("OK in the end.", "Fine, but it took a few days."),
    4: ("Quick and friendly.", "Thanks, solved."),
    5: ("Excellent service!", "Solved within an hour, thank you!", "Very helpful agent."),
}

#: interaction kind -> subjects staff log for it
INTERACTION_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": (
        "Question about the last invoice", "Follow-up on the lost item", "Asked about the family plan",
        "Explained how to share rides", "Thermostat set-up help", "Complaint about a late delivery",
        "Upgrade options discussed", "Called back about the refund",
    ),
    "email": (
        "Your receipt for March", "Re: delivery window", "Welcome to Patron Plus", "Re: hub firmware update",
        "Confirmation of your address change", "Re: refund request",
        "Your smart-home installation appointment",
    ),
    "chat": (
        "In-app chat: driver running late", "In-app chat: missing item", "In-app chat: payment failed",
        "In-app chat: change pick-up point", "In-app chat: pairing a sensor",
    ),
    "meeting": (
        "Contract review for the corporate ride account", "Smart-home consultation at home",
        "Quarterly business review",
    ),
    "social": (
        "Mention on Instagram: praise for a driver", "Tweet about a late delivery",
        "Facebook message asking about prices", "Instagram story tagged us",
    ),
    "note": (
        "Prefers calls after 6 pm", "Customer is moving in two months", "Interested in solar add-on",
        "Asked not to be called on weekends", "VIP: handle personally",
    ),
    "sms": ("Delivery slot confirmed by SMS", "Driver arrival SMS", "Appointment reminder sent"),
}

CALL_OUTCOMES = ("resolved", "callback scheduled", "no answer", "left voicemail", "escalated", "informed")
CHAT_OUTCOMES = ("resolved", "ticket opened", "informed", "customer left")

#: sales: (title, value low, value high, service line)
DEAL_TEMPLATES: tuple[tuple[str, int, int, str], ...] = (
    ("Premium subscription upgrade", 120, 240, "rides"), ("Family plan for 4", 180, 360, "rides"),
    ("Smart-home starter kit (3 rooms)", 450, 900, "smart-home"),
    ("Thermostat bundle and installation", 300, 650, "smart-home"),
    ("Corporate ride account, 25 seats", 6000, 18000, "rides"),
    ("Office lunch delivery contract", 4000, 15000, "delivery"),
    ("Security package: cameras and door sensors", 700, 1600, "smart-home"),
    ("Weekly grocery delivery subscription", 240, 520, "delivery"),
    ("Event shuttle for a trade fair", 2500, 8000, "rides"),
)

LOST_REASONS = (
    "price too high", "chose a competitor", "no budget this year", "no response", "timing", "feature missing",
)

LEAD_COMPANIES = (
    "Spreeblick Media GmbH", "Kiezkantine UG", "Havel Logistik AG", "Bärlin Bikes", "Nordlicht Events",
    "Grünraum Architekten", "Tiergarten Dental", "Panke Software GmbH", "Atelier Wedding", "Müggelsee Hotels",
    "Ostkreuz Coworking", "Kreuzberg Kitchen Collective", "", "", "", "",
)
LEAD_SOURCES = ("website", "event", "referral", "partner", "cold call", "social media", "trade fair")

TASK_TITLES = (
    "Call back about the offer", "Send the quote", "Prepare the contract draft", "Check installation date",
    "Follow up after the demo", "Confirm the delivery slot", "Ask for a review",
    "Schedule the technician visit", "Review open invoice", "Send onboarding material",
)
# fmt: on

//! A deterministic generator of realistic, valid messages of every type of the standard.
//!
//! The same seed gives the same messages, byte for byte, so benchmarks and tests can state
//! what they fed in. Names, comuni and states are real codes from the shipped tables; every
//! codice fiscale is computed from the person's data, so it passes every rule.

use serde_json::{json, Value};

use crate::standard::codice_fiscale::{self, Sex};

/// The types the generator produces, with the party kind that sends each.
pub const TYPES: &[(&str, &str)] = &[
    ("worker.registered", "cpi"),
    ("worker.updated", "cpi"),
    ("worker.withdrawn", "cpi"),
    ("vacancy.published", "social"),
    ("vacancy.closed", "social"),
    ("match.proposed", "cpi"),
    ("match.outcome", "cpi"),
    ("employment.started", "inps"),
    ("employment.changed", "inps"),
    ("employment.ended", "inps"),
    ("permit.verification.requested", "cpi"),
    ("permit.status", "sui"),
    ("subsidy.granted", "social"),
    ("subsidy.revoked", "social"),
    ("care.monitoring.recorded", "social"),
    ("receipt", "cpi"),
];

const BASE: &str = "https://raccordo.github.io/schemas/standard/";

/// (Belfiore, CAP) of comuni in Lombardy, Emilia-Romagna and a few large cities.
pub(crate) const COMUNI: &[(&str, &str)] = &[
    ("D150", "26100"),
    ("F205", "20121"),
    ("A944", "40121"),
    ("H223", "42121"),
    ("G337", "43121"),
    ("F257", "41121"),
    ("B157", "25121"),
    ("A794", "24121"),
    ("C933", "22100"),
    ("G388", "27100"),
    ("H501", "00184"),
    ("L219", "10121"),
    ("F839", "80133"),
    ("D612", "50122"),
    // Crema, whose job centre reads CO UniLav in the example configuration.
    ("D142", "26013"),
];

/// (ISTAT state code, Belfiore code) of the citizenships most common among care workers in
/// Italy, and Italy itself (born in a comune).
const STATES: &[(&str, &str)] = &[
    ("235", "Z129"),
    ("243", "Z138"),
    ("254", "Z140"),
    ("323", "Z216"),
    ("615", "Z611"),
    ("609", "Z605"),
    ("360", "Z254"),
    ("201", "Z100"),
    ("436", "Z330"),
    ("311", "Z209"),
    ("330", "Z222"),
    ("233", "Z127"),
    ("100", ""),
];

const FAMILY_NAMES: &[&str] = &[
    "Rossi",
    "Bianchi",
    "Ferrari",
    "Esposito",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Popescu",
    "Ionescu",
    "Kovalenko",
    "Shevchenko",
    "Rusu",
    "Santos",
    "Reyes",
    "Quispe",
    "Beridze",
    "Hoxha",
    "Benali",
    "Perera",
    "Sharma",
    "Nowak",
];
const GIVEN_NAMES_F: &[&str] = &[
    "Maria",
    "Anna",
    "Giulia",
    "Elena",
    "Olena",
    "Natalia",
    "Ioana",
    "Svetlana",
    "Rosa",
    "Liliana",
    "Nino",
    "Fatima",
    "Dilani",
    "Agnieszka",
];
const GIVEN_NAMES_M: &[&str] =
    &["Giuseppe", "Mario", "Luigi", "Andrei", "Mykola", "Jose", "Carlos", "Giorgi", "Arben", "Karim", "Ravi"];
const CONDITIONS: &[&str] = &[
    "dementia",
    "alzheimer",
    "parkinson",
    "motor-disability",
    "bedridden",
    "stroke",
    "palliative-care",
    "diabetes",
    "sensory-disability",
];
pub(crate) const LEVELS: &[&str] = &["A", "AS", "B", "BS", "C", "CS", "D", "DS"];

/// A person the generator made up, with a codice fiscale that matches.
#[derive(Debug, Clone)]
pub struct Person {
    pub codice_fiscale: String,
    pub family_name: String,
    pub given_name: String,
    pub sex: &'static str,
    pub birth_date: String,
    pub birth_place: Value,
    /// The Belfiore code of the birth place: the comune's, or the foreign state's Z code.
    pub birth_place_code: &'static str,
    pub citizenship: &'static str,
}

impl Person {
    pub fn to_json(&self) -> Value {
        json!({
            "codiceFiscale": self.codice_fiscale,
            "familyName": self.family_name,
            "givenName": self.given_name,
            "sex": self.sex,
            "birthDate": self.birth_date,
            "birthPlace": self.birth_place,
            "citizenship": self.citizenship,
        })
    }

    pub fn needs_permit(&self) -> bool {
        // Italy and the EU states in STATES; the rest are outside free movement.
        !matches!(self.citizenship, "100" | "235" | "233")
    }
}

/// Produces messages from a seed.
pub struct Generator {
    rng: fastrand::Rng,
    counter: u64,
    source_suffix: String,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator { rng: fastrand::Rng::with_seed(seed), counter: 0, source_suffix: format!("{:02}", seed % 100) }
    }

    /// `count` messages cycling through every type.
    pub fn corpus(&mut self, count: usize) -> Vec<Value> {
        (0..count).filter_map(|index| self.message(TYPES[index % TYPES.len()].0)).collect()
    }

    /// One valid message of the named type (short name); `None` for a type it doesn't know.
    pub fn message(&mut self, name: &str) -> Option<Value> {
        let &(_, party) = TYPES.iter().find(|(type_name, _)| *type_name == name)?;
        let data = match name {
            "worker.registered" => self.worker(false),
            "worker.updated" => self.worker(true),
            "worker.withdrawn" => self.worker_withdrawn(),
            "vacancy.published" => self.vacancy(),
            "vacancy.closed" => json!({
                "vacancyId": self.id("RIC"), "closedOn": self.date(2026, 2026), "reason": "filled", "matchId": self.id("INC")
            }),
            "match.proposed" => self.match_proposed(),
            "match.outcome" => json!({
                "matchId": self.id("INC"), "vacancyId": self.id("RIC"), "codiceFiscale": self.person(1970, 1998).codice_fiscale,
                "outcome": "hired", "decidedOn": "2026-03-02", "startDate": "2026-03-16"
            }),
            "employment.started" => self.employment_started(),
            "employment.changed" => self.employment_changed(),
            "employment.ended" => self.employment_ended(),
            "permit.verification.requested" => self.permit_request(),
            "permit.status" => self.permit_status(),
            "subsidy.granted" => self.subsidy(),
            "subsidy.revoked" => json!({
                "subsidyId": self.id("BUONO"), "revokedOn": "2026-05-04", "effectiveFrom": "2026-06-01", "reason": "employment-ended"
            }),
            "care.monitoring.recorded" => json!({
                "visitId": self.id("VIS"), "employment": self.employment_ref(), "visitedOn": "2026-04-14",
                "contactKind": "home-visit", "operator": self.id("OP"), "assessment": "adequate",
                "issues": ["training-need"], "followUpBy": "2026-07-14"
            }),
            "receipt" => json!({
                "messageId": self.id("MSG"), "messageSource": "urn:raccordo:gateway:raccordo",
                "messageType": "it.raccordo.employment.started.v1", "status": "accepted", "receivedAt": "2026-03-02T10:15:00+01:00"
            }),
            _ => return None,
        };
        Some(self.envelope(name, party, data))
    }

    fn envelope(&mut self, name: &str, party: &str, data: Value) -> Value {
        self.counter += 1;
        let minute = self.counter % 60;
        let hour = 8 + (self.counter / 60) % 10;
        json!({
            "specversion": "1.0",
            "id": format!("{party}-{:010}", self.counter),
            "source": format!("urn:raccordo:{party}:{}{}", party.to_uppercase(), self.source_suffix),
            "type": format!("it.raccordo.{name}.v1"),
            // After every date the generator gives to something that already happened.
            "time": format!("2026-12-31T{hour:02}:{minute:02}:00+01:00"),
            "dataschema": format!("{BASE}{name}.v1.schema.json"),
            "datacontenttype": "application/json",
            "data": data,
        })
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())]
    }

    fn id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}-{:06}", 2026, self.rng.u32(..1_000_000))
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count).map(|index| char::from(b'0' + self.rng.u8(u8::from(index == 0)..10))).collect()
    }

    fn date(&mut self, from_year: u16, to_year: u16) -> String {
        let year = self.rng.u16(from_year..=to_year);
        let month = self.rng.u8(1..=12);
        let day = self.rng.u8(1..=codice_fiscale::days_in_month(year.is_multiple_of(4), month));
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// A person born between the two years, with a matching codice fiscale.
    pub fn person(&mut self, from_year: u16, to_year: u16) -> Person {
        let female = self.rng.u8(..10) < 8;
        let family_name = self.pick(FAMILY_NAMES).to_owned();
        let given_name = self.pick(if female { GIVEN_NAMES_F } else { GIVEN_NAMES_M }).to_owned();
        let (citizenship, state_belfiore) = self.pick(STATES);
        let (place_code, birth_place) = if state_belfiore.is_empty() {
            let (comune, _) = self.pick(COMUNI);
            (comune, json!({ "comune": comune }))
        } else {
            (state_belfiore, json!({ "state": citizenship }))
        };
        let year = self.rng.u16(from_year..=to_year);
        let month = self.rng.u8(1..=12);
        let day = self.rng.u8(1..=28);
        let sex = if female { Sex::Female } else { Sex::Male };
        let codice_fiscale = codice_fiscale::compose(
            &codice_fiscale::name_code(&family_name, false),
            &codice_fiscale::name_code(&given_name, true),
            year,
            month,
            day,
            sex,
            place_code,
        );
        Person {
            codice_fiscale,
            family_name,
            given_name,
            sex: if female { "F" } else { "M" },
            birth_date: format!("{year:04}-{month:02}-{day:02}"),
            birth_place,
            birth_place_code: place_code,
            citizenship,
        }
    }

    fn address(&mut self) -> Value {
        let (comune, cap) = self.pick(COMUNI);
        let number = self.rng.u16(1..200);
        json!({ "comune": comune, "cap": cap, "street": format!("Via Roma {number}") })
    }

    fn permit(&mut self) -> Value {
        json!({
            "documentType": "permit",
            "number": format!("I{}", self.digits(9)),
            "reason": self.pick(&["subordinate-work", "family", "awaiting-employment"]),
            "issuedOn": self.date(2022, 2024),
            "expiresOn": self.date(2026, 2028),
            "questura": self.pick(&["019", "015", "037", "058"]),
        })
    }

    fn worker(&mut self, updated: bool) -> Value {
        let person = self.person(1965, 1998);
        let (home, _) = self.pick(COMUNI);
        let mut worker = json!({
            "registration": { "cpi": format!("{home}C{:06}", self.rng.u32(1..1000)), "entryId": self.id("EAF"), "registeredOn": self.date(2024, 2025) },
            "person": person.to_json(),
            "residence": self.address(),
            // Registers record where a care worker actually lives (often the employer's home).
            "domicile": self.address(),
            "contacts": { "mobile": format!("+39{}", self.digits(10)) },
            "italianLevel": self.pick(&["A2", "B1", "B2"]),
            "experiences": [{
                "role": "live-in-carer", "startDate": "2018-04-01", "endDate": "2023-09-30",
                "conditionsCared": [self.pick(CONDITIONS)]
            }],
            "training": [{
                "title": "Corso base per assistenti familiari", "kind": "basic-care-course",
                "hours": self.rng.u16(40..=120), "completedOn": self.date(2023, 2024)
            }],
            "availability": {
                "arrangements": ["live-in", "hourly"], "hoursPerWeek": self.rng.u8(20..=54),
                "days": ["mon", "tue", "wed", "thu", "fri"], "timeSlots": ["morning", "afternoon"],
                "comuni": [home]
            },
            "conditions": [self.pick(CONDITIONS), "frailty"],
        });
        if person.needs_permit() {
            worker["residencePermit"] = self.permit();
        }
        if updated {
            worker["changed"] = json!(["/availability", "/italianLevel"]);
        }
        worker
    }

    fn worker_withdrawn(&mut self) -> Value {
        let person = self.person(1965, 1998);
        json!({
            "registration": { "cpi": "D150C000001", "entryId": self.id("EAF") },
            "codiceFiscale": person.codice_fiscale,
            "withdrawnOn": self.date(2026, 2026),
            "reason": self.pick(&["worker-request", "permit-expired", "unreachable"]),
        })
    }

    fn vacancy(&mut self) -> Value {
        let employer = self.person(1950, 1975);
        let live_in = self.rng.bool();
        json!({
            "vacancyId": self.id("RIC"),
            "publishedOn": "2026-02-20",
            "expiresOn": "2026-05-20",
            "employer": { "codiceFiscale": employer.codice_fiscale, "familyName": employer.family_name, "givenName": employer.given_name },
            "employerContacts": { "phone": format!("0{}", self.digits(9)) },
            "assistedPerson": {
                "age": self.rng.u8(70..=98), "sex": "F", "relationship": "parent",
                "autonomyLevel": self.pick(&["partially-dependent", "dependent", "totally-dependent"]),
                "conditions": [self.pick(CONDITIONS)], "needs": ["personal-care", "meals", "companionship"]
            },
            "workplace": self.address(),
            "contract": {
                "startDate": "2026-03-16", "contractType": "open-ended", "liveIn": live_in,
                "ccnlLevel": if live_in { "CS" } else { "BS" },
                "weeklyHours": if live_in { 54 } else { self.rng.u8(10..=40) },
                "monthlyPay": 1250.0
            },
            "requirements": { "italianLevel": "A2", "trainingRequired": true }
        })
    }

    fn match_proposed(&mut self) -> Value {
        let candidates: Vec<Value> = (1..=self.rng.u8(1..=3))
            .map(|rank| json!({ "codiceFiscale": self.person(1965, 1998).codice_fiscale, "entryId": self.id("EAF"), "rank": rank }))
            .collect();
        json!({ "matchId": self.id("INC"), "vacancyId": self.id("RIC"), "proposedOn": "2026-02-25", "candidates": candidates })
    }

    fn contract(&mut self, start: &str) -> Value {
        let live_in = self.rng.bool();
        let fixed_term = self.rng.u8(..4) == 0;
        let mut contract = json!({
            "startDate": start,
            "contractType": if fixed_term { "fixed-term" } else { "open-ended" },
            "liveIn": live_in,
            "ccnlLevel": self.pick(LEVELS),
            "weeklyHours": if live_in { 54.0 } else { f64::from(self.rng.u8(10..=40)) },
            "pay": if live_in { json!({ "amount": 1280.5, "period": "monthly" }) } else { json!({ "amount": 9.5, "period": "hourly" }) },
            "board": { "meals": live_in, "lodging": live_in },
            "occupation": "5.4.4.3.0",
            "workplace": self.address(),
        });
        if fixed_term {
            contract["endDate"] = json!("2026-12-31");
        }
        contract
    }

    fn employment_ref(&mut self) -> Value {
        json!({
            "inpsRelationshipCode": self.digits(11),
            "employerCodiceFiscale": self.person(1940, 1970).codice_fiscale,
            "workerCodiceFiscale": self.person(1965, 1998).codice_fiscale,
        })
    }

    fn employment_started(&mut self) -> Value {
        let employer = self.person(1940, 1970);
        let worker = self.person(1965, 1998);
        let mut data = json!({
            "inpsRelationshipCode": self.digits(11),
            "inpsCommunicationCode": self.digits(12),
            "employer": employer.to_json(),
            "employerResidence": self.address(),
            "worker": worker.to_json(),
            "workerResidence": self.address(),
            "contract": self.contract("2026-03-16"),
            "notifiedOn": "2026-03-15",
        });
        if worker.needs_permit() {
            data["residencePermit"] = self.permit();
        }
        data
    }

    /// The parties of an employment, as INPS's change and termination communications
    /// repeat them (and the CO needs them): employer, worker, their residences, the permit.
    fn parties(&mut self, data: &mut Value) {
        let employer = self.person(1940, 1970);
        let worker = self.person(1965, 1998);
        data["employment"] = json!({
            "inpsRelationshipCode": data["inpsRelationshipCode"],
            "employerCodiceFiscale": employer.codice_fiscale,
            "workerCodiceFiscale": worker.codice_fiscale,
        });
        data["employer"] = employer.to_json();
        data["employerResidence"] = self.address();
        data["worker"] = worker.to_json();
        data["workerResidence"] = self.address();
        if worker.needs_permit() {
            data["residencePermit"] = self.permit();
        }
    }

    fn employment_changed(&mut self) -> Value {
        // The changes a CO carries (an extension, a transformation to open-ended) and one it
        // does not (hours and pay), in turn.
        let (changes, end) = match self.rng.u8(..3) {
            0 => (json!(["extension"]), Some("2027-03-31")),
            1 => (json!(["transformation"]), None),
            _ => (json!(["hours", "pay"]), None),
        };
        let mut contract = self.contract("2025-10-01");
        if let Some(end) = end {
            contract["contractType"] = json!("fixed-term");
            contract["endDate"] = json!(end);
        } else {
            contract["contractType"] = json!("open-ended");
            if let Value::Object(terms) = &mut contract {
                terms.remove("endDate");
            }
        }
        let mut data = json!({
            "inpsRelationshipCode": self.digits(11),
            "inpsCommunicationCode": self.digits(12),
            "effectiveFrom": "2026-04-01",
            "changes": changes,
            "contract": contract,
        });
        self.parties(&mut data);
        data
    }

    fn employment_ended(&mut self) -> Value {
        let start = self.date(2019, 2024);
        let mut data = json!({
            "inpsRelationshipCode": self.digits(11),
            "inpsCommunicationCode": self.digits(12),
            "startDate": start,
            "endDate": self.date(2025, 2026),
            "reason": "assisted-deceased",
            "noticeGiven": false,
        });
        data["contract"] = self.contract(&start);
        if let Value::Object(terms) = &mut data["contract"] {
            terms.remove("endDate");
            terms.insert("contractType".into(), json!("open-ended"));
        }
        self.parties(&mut data);
        data
    }

    fn permit_request(&mut self) -> Value {
        let person = self.person(1965, 1998);
        json!({
            "requestId": self.id("VER"),
            "person": person.to_json(),
            "permitNumber": format!("I{}", self.digits(9)),
            "purpose": "employment",
            "employmentStart": "2026-03-16",
        })
    }

    fn permit_status(&mut self) -> Value {
        let person = self.person(1965, 1998);
        json!({
            "requestId": self.id("VER"),
            "codiceFiscale": person.codice_fiscale,
            "state": "valid",
            "permit": self.permit(),
            "workAllowed": true,
            "checkedAt": "2026-03-03T11:20:00+01:00",
        })
    }

    fn subsidy(&mut self) -> Value {
        let beneficiary = self.person(1950, 1975);
        let (comune, _) = self.pick(COMUNI);
        json!({
            "subsidyId": self.id("BUONO"),
            "kind": "care-voucher",
            "grantedOn": "2026-03-20",
            "grantedBy": comune,
            "beneficiary": { "codiceFiscale": beneficiary.codice_fiscale, "familyName": beneficiary.family_name, "givenName": beneficiary.given_name },
            "assistedCodiceFiscale": self.person(1930, 1950).codice_fiscale,
            "period": { "from": "2026-04-01", "to": "2027-03-31" },
            "monthlyAmount": 300,
            "totalAmount": 3600,
            "isee": 14850.75,
            "siussServiceCode": "A1.15",
            "employment": self.employment_ref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::Assets;
    use crate::standard::Standard;

    #[test]
    fn every_generated_message_is_valid() {
        let standard = Standard::load(&Assets::Embedded).unwrap();
        let mut generator = Generator::new(7);
        for message in generator.corpus(TYPES.len() * 20) {
            let validation = standard.validate(&message);
            assert!(validation.is_valid(), "{message:#}\n{:#?}", validation.diagnostics);
        }
    }

    #[test]
    fn same_seed_same_messages() {
        assert_eq!(Generator::new(3).corpus(40), Generator::new(3).corpus(40));
        assert_ne!(Generator::new(3).corpus(40), Generator::new(4).corpus(40));
    }

    #[test]
    fn every_type_of_the_standard_is_generated() {
        let standard = Standard::load(&Assets::Embedded).unwrap();
        let generated: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
        for message_type in standard.types() {
            assert!(generated.contains(&message_type.name.as_str()), "{} is never generated", message_type.name);
        }
    }
}

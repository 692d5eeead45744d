//! The codice fiscale: shape, check character, omocodia, and the birth data it encodes.
//!
//! Legal basis: DM Finanze 23 dicembre 1976 n. 13813. A person's code has 16 characters:
//! surname (3 letters), name (3), year (2 digits), month (a letter of `ABCDEHLMPRST`), day
//! (2 digits, plus 40 for women), the Belfiore code of the birth place (a letter and 3 digits),
//! and a check character. When two people would get the same code, the revenue agency
//! replaces digits from the right with letters (omocodia: 0→L … 9→V) and recomputes the check
//! character; every digit position accepts those letters. Organisations, and people given a
//! provisional code, have 11 digits whose last is a Luhn-style check digit.

use std::fmt;

/// Which of the two forms a valid code has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 16 characters: a natural person.
    Person,
    /// 11 digits: an organisation, or a provisional code.
    Numeric,
}

/// Why a code is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The shape is wrong; the text says which part.
    Format(&'static str),
    /// The shape is right, the check character or digit is not.
    Checksum,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Format(reason) => f.write_str(reason),
            Invalid::Checksum => f.write_str("the check character does not match the code"),
        }
    }
}

/// Sex as encoded in the day field of a person's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// The birth data a person's code encodes. The century is not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthData {
    pub year_of_century: u8,
    pub month: u8,
    pub day: u8,
    pub sex: Sex,
}

const MONTH_LETTERS: &[u8; 12] = b"ABCDEHLMPRST";
const OMOCODIA_LETTERS: &[u8; 10] = b"LMNPQRSTUV";
/// 0-based positions of the 16-character form that hold digits (or omocodia letters).
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
/// Values of digits and letters in odd (1-based) positions, indexed by digit or letter.
const ODD_VALUES: [u8; 26] =
    [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/// Checks a code in either form.
pub fn check(code: &str) -> Result<Kind, Invalid> {
    let bytes = code.as_bytes();
    match bytes.len() {
        16 => check_person(bytes).map(|_| Kind::Person),
        11 if bytes.iter().all(u8::is_ascii_digit) => check_numeric(bytes).map(|()| Kind::Numeric),
        11 => Err(Invalid::Format("an 11-character code must be all digits")),
        _ => Err(Invalid::Format("a codice fiscale has 16 characters, or 11 digits")),
    }
}

/// Checks a 16-character personal code and returns the birth data it encodes.
pub fn birth_data(code: &str) -> Result<BirthData, Invalid> {
    match code.len() {
        16 => check_person(code.as_bytes()),
        _ => Err(Invalid::Format("only a 16-character codice fiscale encodes birth data")),
    }
}

fn check_person(bytes: &[u8]) -> Result<BirthData, Invalid> {
    for (index, byte) in bytes.iter().enumerate() {
        let ok = if DIGIT_POSITIONS.contains(&index) {
            byte.is_ascii_digit() || OMOCODIA_LETTERS.contains(byte)
        } else {
            byte.is_ascii_uppercase()
        };
        if !ok {
            return Err(Invalid::Format(if DIGIT_POSITIONS.contains(&index) {
                "a digit position holds a character that is neither a digit nor an omocodia letter"
            } else {
                "a letter position holds something other than an upper-case letter"
            }));
        }
    }
    let month = MONTH_LETTERS
        .iter()
        .position(|&letter| letter == bytes[8])
        .ok_or(Invalid::Format("the month letter is not one of ABCDEHLMPRST"))?;
    let year_of_century = digit_value(bytes[6]) * 10 + digit_value(bytes[7]);
    let encoded_day = digit_value(bytes[9]) * 10 + digit_value(bytes[10]);
    let (day, sex) = match encoded_day {
        1..=31 => (encoded_day, Sex::Male),
        41..=71 => (encoded_day - 40, Sex::Female),
        _ => return Err(Invalid::Format("the day is neither 1-31 nor 41-71")),
    };
    let month = month as u8 + 1;
    // The century is unknown, so a 29 February passes whenever the two-digit year could be a leap year.
    if day > days_in_month(year_of_century.is_multiple_of(4), month) {
        return Err(Invalid::Format("the day does not exist in the encoded month"));
    }
    if check_character(&bytes[..15]) != bytes[15] {
        return Err(Invalid::Checksum);
    }
    Ok(BirthData { year_of_century, month, day, sex })
}

fn digit_value(byte: u8) -> u8 {
    match OMOCODIA_LETTERS.iter().position(|&letter| letter == byte) {
        Some(value) => value as u8,
        None => byte - b'0',
    }
}

/// The check character of the first 15 characters of a personal code.
pub fn check_character(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(index, &byte)| {
            let ordinal = if byte.is_ascii_digit() { byte - b'0' } else { byte - b'A' };
            // Index 0 is position 1, an odd position.
            u32::from(if index % 2 == 0 { ODD_VALUES[usize::from(ordinal)] } else { ordinal })
        })
        .sum();
    b'A' + (sum % 26) as u8
}

fn check_numeric(bytes: &[u8]) -> Result<(), Invalid> {
    let sum: u32 = bytes[..10]
        .iter()
        .enumerate()
        .map(|(index, &byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    let expected = (10 - sum % 10) % 10;
    if u32::from(bytes[10] - b'0') == expected {
        Ok(())
    } else {
        Err(Invalid::Checksum)
    }
}

/// Days in a month (1-12) of a leap or common year.
pub fn days_in_month(leap: bool, month: u8) -> u8 {
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Builds a valid personal code from its parts; the traffic generator and tests use it.
///
/// `surname` and `name` are the 3-letter codes, `place` a Belfiore code, `year` the full year.
pub fn compose(surname: &str, name: &str, year: u16, month: u8, day: u8, sex: Sex, place: &str) -> String {
    let month_letter = MONTH_LETTERS[usize::from(month.clamp(1, 12) - 1)] as char;
    let day = if sex == Sex::Female { day + 40 } else { day };
    let mut code = format!("{surname}{name}{:02}{month_letter}{day:02}{place}", year % 100);
    let check = check_character(code.as_bytes()) as char;
    code.push(check);
    code
}

/// The 3-letter code of a surname or name, as the algorithm derives it: consonants first,
/// then vowels, padded with X; a name with four or more consonants takes the 1st, 3rd and 4th.
pub fn name_code(text: &str, is_given_name: bool) -> String {
    let letters: Vec<char> = text.chars().filter(char::is_ascii_alphabetic).map(|c| c.to_ascii_uppercase()).collect();
    let is_vowel = |c: &char| "AEIOU".contains(*c);
    let consonants: Vec<char> = letters.iter().copied().filter(|c| !is_vowel(c)).collect();
    let vowels = letters.iter().copied().filter(is_vowel);
    let mut chosen: Vec<char> = if is_given_name && consonants.len() >= 4 {
        vec![consonants[0], consonants[2], consonants[3]]
    } else {
        consonants.into_iter().chain(vowels).take(3).collect()
    };
    chosen.resize(3, 'X');
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all(cases: &[(&str, Result<Kind, Invalid>)]) {
        for (code, expected) in cases {
            assert_eq!(check(code), *expected, "{code}");
        }
    }

    #[test]
    fn valid_personal_and_numeric_codes() {
        check_all(&[
            ("RSSMRA80A01H501U", Ok(Kind::Person)),
            ("BNCLRA85T55F205M", Ok(Kind::Person)),
            // Leap day, woman (29 + 40), born abroad (India, Z222).
            ("KMRPRY92B69Z222A", Ok(Kind::Person)),
            ("00743110157", Ok(Kind::Numeric)),
            ("80078750587", Ok(Kind::Numeric)),
        ]);
    }

    #[test]
    fn omocodia_variants_are_valid_and_keep_birth_data() {
        // Replacing digits from the right with their letters, recomputing the check.
        let base = "RSSMRA80A01H501U";
        let mut code: Vec<u8> = base.as_bytes().to_vec();
        for &position in DIGIT_POSITIONS.iter().rev() {
            code[position] = OMOCODIA_LETTERS[usize::from(code[position] - b'0')];
            code[15] = check_character(&code[..15]);
            let text = String::from_utf8(code.clone()).unwrap();
            assert_eq!(check(&text), Ok(Kind::Person), "{text}");
            assert_eq!(birth_data(&text), birth_data(base), "{text}");
        }
        assert_eq!(String::from_utf8(code).unwrap(), "RSSMRAULALMHRLMD");
    }

    #[test]
    fn wrong_check_characters_and_digits() {
        check_all(&[
            ("RSSMRA80A01H501A", Err(Invalid::Checksum)),
            (
                "RSSMRA80A01H5O1U",
                Err(Invalid::Format(
                    "a digit position holds a character that is neither a digit nor an omocodia letter",
                )),
            ),
            ("00743110158", Err(Invalid::Checksum)),
        ]);
    }

    #[test]
    fn malformed_codes() {
        for code in [
            "",
            "RSSMRA80A01H501",
            "rssmra80a01h501u",
            "RSSMRA80Z01H501U",
            "RSSMRA80A32H501U",
            "RSSMRA80B30H501U",
            "RSSMRA81B69H501U",
            "0074311015A",
            "RSSMRA80A01H501UU",
        ] {
            assert!(matches!(check(code), Err(Invalid::Format(_))), "{code}");
        }
    }

    #[test]
    fn birth_data_decodes_women_and_omocodia() {
        assert_eq!(
            birth_data("BNCLRA85T55F205M"),
            Ok(BirthData { year_of_century: 85, month: 12, day: 15, sex: Sex::Female })
        );
        assert_eq!(
            birth_data("RSSMRA80A01H501U"),
            Ok(BirthData { year_of_century: 80, month: 1, day: 1, sex: Sex::Male })
        );
    }

    #[test]
    fn compose_and_name_codes_round_trip() {
        assert_eq!(name_code("Rossi", false), "RSS");
        assert_eq!(name_code("Mario", true), "MRA");
        assert_eq!(name_code("Gianfranco", true), "GFR");
        assert_eq!(name_code("Fo", false), "FOX");
        let code = compose("RSS", "MRA", 1980, 1, 1, Sex::Male, "H501");
        assert_eq!(code, "RSSMRA80A01H501U");
        assert_eq!(check(&compose("BNC", "LRA", 1985, 12, 15, Sex::Female, "F205")), Ok(Kind::Person));
    }
}

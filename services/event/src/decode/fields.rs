//! Field types shared by the decoders: borrowed strings, lenient numbers, objects that refuse
//! arrays, and the checks that turn them into event fields.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::{reason, DecodeError};
use crate::time::{self, TimeError};

/// Longest string kept from a record, in bytes; longer ones are refused, never cut.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Most entries kept from a list field (`tenant_ids`, `target_accounts`).
pub const MAX_LIST_ITEMS: usize = 1024;

/// A JSON string, borrowed from the record when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(value)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(value)))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// A number as a record wrote it: an integer, a float, or a string to parse later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Num<'a> {
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Negative(i64),
    /// A float, or an integer too large for `u64`.
    Float(f64),
    /// A string.
    Text(Str<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Num<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;

        impl<'de> Visitor<'de> for NumVisitor {
            type Value = Num<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a number or a string holding one")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                Ok(Num::Unsigned(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                Ok(u64::try_from(value).map_or(Num::Negative(value), Num::Unsigned))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
                Ok(Num::Float(value))
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Num::Text(Str(Cow::Borrowed(value))))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Num::Text(Str(Cow::Owned(value.to_owned()))))
            }
        }

        deserializer.deserialize_any(NumVisitor)
    }
}

impl fmt::Display for Num<'_> {
    /// The number as the record wrote it, near enough: strings quoted, numbers plain.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Unsigned(number) => write!(formatter, "{number}"),
            Num::Negative(number) => write!(formatter, "{number}"),
            Num::Float(number) => write!(formatter, "{number}"),
            Num::Text(text) => write!(formatter, "{:?}", text.as_str()),
        }
    }
}

/// A JSON object deserialized into `T`; arrays, which serde would match to struct fields by
/// position, are refused as the wrong type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjVisitor(PhantomData)).map(Obj)
    }
}

/// A count of objects or bytes: a non-negative whole number below 2^64, written as an
/// integer, a float with no fraction, or a string holding either.
pub(crate) fn count(field: &str, value: Option<Num<'_>>) -> Result<Option<u64>, DecodeError> {
    let Some(value) = value else { return Ok(None) };
    let refuse = |why: &str| {
        DecodeError::new(reason::INVALID_NUMBER, format!("`{field}` is {why}, not a count"))
    };
    let float_count = |number: f64| {
        if !number.is_finite() || number < 0.0 {
            return Err(refuse("negative or not finite"));
        }
        if number.fract() != 0.0 {
            return Err(refuse("not a whole number"));
        }
        if number >= u64::MAX as f64 {
            return Err(refuse("too large"));
        }
        Ok(Some(number as u64))
    };
    match value {
        Num::Unsigned(number) => Ok(Some(number)),
        Num::Negative(_) => Err(refuse("negative")),
        Num::Float(number) => float_count(number),
        Num::Text(text) => {
            let text = text.as_str();
            if !time::is_plain_number(text) {
                return Err(refuse("a string that is not a number"));
            }
            if let Ok(number) = text.parse::<u64>() {
                return Ok(Some(number));
            }
            if text.starts_with('-') {
                return Err(refuse("negative"));
            }
            float_count(text.parse::<f64>().map_err(|_| refuse("unparsable"))?)
        }
    }
}

/// A required time: epoch seconds or milliseconds (number or string) or RFC 3339 text.
pub(crate) fn time_ms(field: &str, value: Option<Num<'_>>) -> Result<i64, DecodeError> {
    let Some(value) = value else { return Err(missing(field)) };
    let result = match &value {
        Num::Unsigned(number) => time::epoch_to_ms(*number).ok_or(TimeError::InvalidTime),
        Num::Negative(_) => Err(TimeError::InvalidNumber),
        Num::Float(number) => time::epoch_float_to_ms(*number),
        Num::Text(text) => {
            check_length(field, text.as_str())?;
            time::parse_time_text(text.as_str())
        }
    };
    result.map_err(|error| match error {
        TimeError::InvalidNumber => DecodeError::new(
            reason::INVALID_NUMBER,
            format!("`{field}` is negative, not finite, or too large: {value}"),
        ),
        TimeError::InvalidTime => DecodeError::new(
            reason::INVALID_TIME,
            format!("`{field}` is not a timestamp between 1970 and 9999: {value}"),
        ),
    })
}

/// A required identifier: present, non-empty, at most [`MAX_FIELD_BYTES`].
pub(crate) fn required_id(field: &str, value: Option<Str<'_>>) -> Result<String, DecodeError> {
    match value {
        Some(text) if !text.as_str().is_empty() => owned(field, text),
        _ => Err(missing(field)),
    }
}

/// An optional string: absent and empty are both `None`; longer than [`MAX_FIELD_BYTES`] is
/// refused.
pub(crate) fn optional_text(
    field: &str,
    value: Option<Str<'_>>,
) -> Result<Option<String>, DecodeError> {
    match value {
        Some(text) if !text.as_str().is_empty() => owned(field, text).map(Some),
        _ => Ok(None),
    }
}

/// A list of non-empty identifiers, de-duplicated in order, at most [`MAX_LIST_ITEMS`].
pub(crate) fn id_list<'a>(
    field: &str,
    values: impl IntoIterator<Item = Str<'a>>,
    into: &mut Vec<String>,
) -> Result<(), DecodeError> {
    for value in values {
        let value = required_id(field, Some(value))?;
        if into.contains(&value) {
            continue;
        }
        if into.len() >= MAX_LIST_ITEMS {
            return Err(DecodeError::new(
                reason::FIELD_TOO_LONG,
                format!("`{field}` has more than {MAX_LIST_ITEMS} entries"),
            ));
        }
        into.push(value);
    }
    Ok(())
}

/// Refuses a string longer than [`MAX_FIELD_BYTES`].
pub(crate) fn check_length(field: &str, text: &str) -> Result<(), DecodeError> {
    if text.len() > MAX_FIELD_BYTES {
        return Err(DecodeError::new(
            reason::FIELD_TOO_LONG,
            format!("`{field}` is {} bytes, more than {MAX_FIELD_BYTES}", text.len()),
        ));
    }
    Ok(())
}

/// A `missing_field` error naming `field`.
pub(crate) fn missing(field: &str) -> DecodeError {
    DecodeError::new(reason::MISSING_FIELD, format!("`{field}` is missing or empty"))
}

/// An `invalid_field` error naming `field`.
pub(crate) fn invalid(field: &str, why: impl fmt::Display) -> DecodeError {
    DecodeError::new(reason::INVALID_FIELD, format!("`{field}` {why}"))
}

fn owned(field: &str, text: Str<'_>) -> Result<String, DecodeError> {
    check_length(field, text.as_str())?;
    Ok(text.0.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(json: &str) -> Num<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn counts_accept_integers_whole_floats_and_numeric_strings() {
        let cases = [
            ("40", 40),
            ("52428800000.0", 52_428_800_000),
            ("\"52428800000\"", 52_428_800_000),
            ("\"2.5e3\"", 2500),
            ("0", 0),
            ("-0", 0),
            ("18446744073709551615", u64::MAX),
        ];
        for (json, expected) in cases {
            assert_eq!(count("bytes", Some(num(json))), Ok(Some(expected)), "{json}");
        }
    }

    #[test]
    fn counts_refuse_negative_fractional_huge_and_unparsable_values() {
        let cases = [
            "-1",
            "-0.5",
            "1.5",
            "1e30",
            "18446744073709551616",
            "\"NaN\"",
            "\"inf\"",
            "\"-3\"",
            "\"12 bytes\"",
            "\"\"",
            "\"99999999999999999999999\"",
        ];
        for json in cases {
            let error = count("bytes", Some(num(json))).unwrap_err();
            assert_eq!(error.reason, reason::INVALID_NUMBER, "{json}");
        }
    }

    #[test]
    fn objects_refuse_arrays_that_serde_would_read_by_position() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Pair {
            a: u8,
            b: u8,
        }
        assert!(serde_json::from_str::<Obj<Pair>>(r#"{"a":1,"b":2}"#).is_ok());
        assert!(serde_json::from_str::<Obj<Pair>>("[1,2]").is_err());
        assert!(serde_json::from_str::<Pair>("[1,2]").is_ok());
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let plain: Str<'_> = serde_json::from_str(r#""abc""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("abc")));
        let escaped: Str<'_> = serde_json::from_str(r#""a\nc""#).unwrap();
        assert!(matches!(escaped.0, Cow::Owned(ref text) if text == "a\nc"));
    }
}

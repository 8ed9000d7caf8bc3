//! The percent-encoding of user IDs on the wire.
//!
//! Cisco's documentation says the user ID is the only value that EM percent-encodes: in
//! responses `em@cisco.com` travels as `em%40cisco.com`, and requests may carry it the same way.
//! Cisco's server is Java, so the exact encoding is that of `URLEncoder.encode(s, "UTF-8")`,
//! which differs from RFC 3986 (it keeps `*`, turns space into `+` and encodes `~`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The bytes Java's `URLEncoder` leaves alone, besides ASCII alphanumerics. Space is also
/// excluded here, because it becomes `+` rather than `%20` (see [`encode_user_id`]).
const JAVA_URL_ENCODER: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'*')
    .remove(b'_')
    .remove(b' ');

/// Encodes a user ID for a response the way Java's `URLEncoder.encode(id, "UTF-8")` does:
/// ASCII alphanumerics and `.`, `-`, `*`, `_` are kept, space becomes `+`, and every other
/// UTF-8 byte becomes `%XX` with uppercase hex digits.
///
/// ```
/// assert_eq!(hotdesk_proto::encode_user_id("em@cisco.com"), "em%40cisco.com");
/// ```
pub fn encode_user_id(id: &str) -> String {
    // `utf8_percent_encode` leaves the space as is because the set excludes it; it is the
    // only byte left to map, and `+` itself has already been encoded to `%2B`.
    utf8_percent_encode(id, JAVA_URL_ENCODER)
        .to_string()
        .replace(' ', "+")
}

/// Decodes a `userID` value from a request: `%XX` sequences become bytes, read as UTF-8.
///
/// `+` is left alone on purpose: a literal `+` is far more common in user IDs than a client
/// that encodes space as `+`, and guessing wrong would look up the wrong user. If the value
/// holds no valid escape, or the decoded bytes are not UTF-8, the input is returned unchanged,
/// so that an ID such as `50%off` that was never encoded still reaches the directory as typed.
///
/// ```
/// assert_eq!(hotdesk_proto::decode_user_id("em%40cisco.com"), "em@cisco.com");
/// assert_eq!(hotdesk_proto::decode_user_id("john"), "john");
/// ```
pub fn decode_user_id(s: &str) -> String {
    match percent_decode_str(s).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_java_url_encoder() {
        assert_eq!(encode_user_id("em@cisco.com"), "em%40cisco.com");
        assert_eq!(encode_user_id("john"), "john");
        assert_eq!(encode_user_id("a.b-c*d_e"), "a.b-c*d_e");
        assert_eq!(encode_user_id("John Smith"), "John+Smith");
        assert_eq!(encode_user_id("a+b"), "a%2Bb");
        assert_eq!(encode_user_id("a~b/c\\d"), "a%7Eb%2Fc%5Cd");
        assert_eq!(encode_user_id("100%"), "100%25");
        assert_eq!(encode_user_id("<&\"'>"), "%3C%26%22%27%3E");
        assert_eq!(encode_user_id(""), "");
    }

    #[test]
    fn encodes_non_ascii_as_uppercase_utf8_bytes() {
        assert_eq!(encode_user_id("jürgen"), "j%C3%BCrgen");
        assert_eq!(encode_user_id("山田"), "%E5%B1%B1%E7%94%B0");
        assert_eq!(encode_user_id("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(decode_user_id("em%40cisco.com"), "em@cisco.com");
        assert_eq!(decode_user_id("em%40CISCO.com"), "em@CISCO.com");
        assert_eq!(decode_user_id("j%c3%bcrgen"), "jürgen");
        assert_eq!(decode_user_id("j%C3%BCrgen"), "jürgen");
    }

    #[test]
    fn leaves_plus_and_unescaped_values_alone() {
        assert_eq!(decode_user_id("john"), "john");
        assert_eq!(decode_user_id("a+b"), "a+b");
        assert_eq!(decode_user_id("John+Smith%40x"), "John+Smith@x");
        assert_eq!(decode_user_id("jürgen"), "jürgen");
        assert_eq!(decode_user_id(""), "");
    }

    #[test]
    fn keeps_input_when_escapes_are_invalid_or_not_utf8() {
        assert_eq!(decode_user_id("50%off"), "50%off");
        assert_eq!(decode_user_id("100%"), "100%");
        assert_eq!(decode_user_id("%zz%4"), "%zz%4");
        // 0xFF is never valid UTF-8: the whole value is kept as typed.
        assert_eq!(decode_user_id("a%FFb%40c"), "a%FFb%40c");
        // A lone continuation byte.
        assert_eq!(decode_user_id("%80"), "%80");
    }

    #[test]
    fn round_trips_everything_but_space() {
        for id in [
            "em@cisco.com",
            "jürgen",
            "a+b",
            "100%",
            "x/y?z=1&w",
            "山田",
            "*._-",
        ] {
            assert_eq!(decode_user_id(&encode_user_id(id)), id, "{id}");
        }
    }
}

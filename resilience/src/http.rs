//! HTTP awareness for the runtime API and the `tower` layers: which responses are failures of
//! the dependency, and how long a server asked to be left alone (`Retry-After`).
//!
//! ```
//! use std::time::Duration;
//! use http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
//!
//! assert!(resilience::http::is_failure(StatusCode::SERVICE_UNAVAILABLE));
//! assert!(resilience::http::is_failure(StatusCode::TOO_MANY_REQUESTS));
//! assert!(!resilience::http::is_failure(StatusCode::NOT_FOUND)); // the caller's mistake
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
//! assert_eq!(resilience::http::retry_after(&headers), Some(Duration::from_secs(120)));
//! ```

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};

/// Whether a response with this status is a failure of the dependency: a `5xx` (it broke) or
/// `429 Too Many Requests` (it is overloaded, or the caller is over its quota). Every other
/// status, `4xx` included, is an answer: a `404` or a `400` says the request was wrong, not
/// that the service is down, and must not open a breaker.
pub fn is_failure(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// How long the server asked the caller to wait, from a `Retry-After` header: delta-seconds
/// (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, measured from the system clock
/// now). `None` when the header is absent or does not parse; a date in the past is a wait of
/// zero, and a wait is at most [`MAX_DURATION`](crate::config::MAX_DURATION) (365 days).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`], with an HTTP-date measured from `now` instead of the system clock.
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Delta-seconds, at most a year: a caller may add the wait to an `Instant`.
        let secs = value.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(crate::config::MAX_DURATION));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn delta_seconds_and_http_dates_are_read() {
        assert_eq!(retry_after(&headers("0")), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(" 30 ")), Some(Duration::from_secs(30)));
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            retry_after_at(&headers("Wed, 21 Oct 2015 07:30:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
        // The obsolete formats HTTP still allows.
        assert_eq!(
            retry_after_at(&headers("Wednesday, 21-Oct-15 07:29:00 GMT"), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after_at(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(
            retry_after(&headers("99999999999999999999999")),
            Some(crate::config::MAX_DURATION)
        );
    }

    #[test]
    fn a_missing_or_malformed_header_is_none() {
        assert_eq!(retry_after(&HeaderMap::new()), None);
        for bad in ["", "-5", "1.5", "soon", "Wed, 21 Oct 2015", "12 s"] {
            assert_eq!(retry_after(&headers(bad)), None, "{bad:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(retry_after(&h), None, "not visible ASCII");
    }

    #[test]
    fn server_errors_and_429_are_failures_other_statuses_are_answers() {
        for code in [500, 502, 503, 504, 599, 429] {
            assert!(is_failure(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [
            200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 428, 431,
        ] {
            assert!(!is_failure(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}

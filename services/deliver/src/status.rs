//! The one place where errors become gRPC statuses: codes are the contract, messages say what a
//! client can fix, and nothing internal leaks.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::cursor::{Cursor, CursorError};
use crate::filter::FilterError;
use crate::log::OutOfRange;

/// The metadata key (and trailer) that carries the cursor a subscriber resumes from.
pub const CURSOR_METADATA_KEY: &str = "mspwatch-cursor";

/// A status whose trailers carry `cursor` under [`CURSOR_METADATA_KEY`].
pub(crate) fn with_cursor(code: Code, message: &str, cursor: &Cursor) -> Status {
    let encoded = cursor.encode();
    let mut status = Status::new(code, format!("{message}; resume from cursor {encoded}"));
    if let Ok(value) = MetadataValue::try_from(encoded.as_str()) {
        status.metadata_mut().insert(CURSOR_METADATA_KEY, value);
    }
    status
}

/// The cursor a status carries, from its trailer.
pub fn cursor_of(status: &Status) -> Option<String> {
    let value = status.metadata().get(CURSOR_METADATA_KEY)?;
    value.to_str().ok().map(str::to_owned)
}

pub(crate) fn filter_status(error: FilterError) -> Status {
    match error {
        FilterError::OutOfScope(_) => Status::permission_denied(error.to_string()),
        FilterError::Severity(_) | FilterError::TooLong(_) => {
            Status::invalid_argument(error.to_string())
        }
    }
}

pub(crate) fn cursor_status(error: CursorError) -> Status {
    Status::invalid_argument(format!("invalid cursor: {error}"))
}

pub(crate) fn out_of_range_status(error: &OutOfRange) -> Status {
    with_cursor(
        Code::OutOfRange,
        "cursor points before the oldest retained alert; the alerts between were evicted",
        &error.oldest,
    )
}

pub(crate) fn ahead_of_topic_status(error: &OutOfRange) -> Status {
    with_cursor(
        Code::OutOfRange,
        "cursor points past the end of the alerts topic (was the topic recreated?); resume \
         from the oldest retained alert",
        &error.oldest,
    )
}

pub(crate) fn slow_subscriber_status(last_delivered: &Cursor) -> Status {
    let message = "subscriber read nothing for the stall timeout";
    with_cursor(Code::ResourceExhausted, message, last_delivered)
}

pub(crate) fn shutting_down_status(last_delivered: &Cursor) -> Status {
    with_cursor(Code::Unavailable, "server is shutting down", last_delivered)
}

pub(crate) fn out_of_scope(what: &str) -> Status {
    Status::permission_denied(format!("{what} is outside the token's scope"))
}

pub(crate) fn needs_global_token(what: &str) -> Status {
    Status::permission_denied(format!("{what} needs a global token"))
}

pub(crate) fn backend_failed() -> Status {
    Status::internal("the detector could not answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_travel_in_message_and_trailer() {
        let mut cursor = Cursor::default();
        cursor.set(0, 42);
        let status = slow_subscriber_status(&cursor);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains(&cursor.encode()));
        assert_eq!(cursor_of(&status), Some(cursor.encode()));
    }
}

//! The states and kinds the store keeps as text, as types: what code compares and matches
//! on. Each is written as its text only here, on its way into a row, and read back through
//! `parse`; a row holding a text no variant has is a storage error, not a silent default.

use std::fmt;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$variant_doc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_doc])* $variant,)+
        }

        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant stored as `text`.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Where a message is, from its deliveries.
    MessageStatus {
        /// Some delivery is still pending or in flight.
        Accepted = "accepted",
        /// Every recipient acknowledged it (or it had none).
        Delivered = "delivered",
        /// Some delivery is a dead letter.
        Failed = "failed",
    }
}

text_enum! {
    /// Where one delivery is.
    DeliveryStatus {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// Claimed by a worker, under a lease.
        InFlight = "in_flight",
        /// Acknowledged by the recipient.
        Delivered = "delivered",
        /// Given up: a dead letter, until an operator replays it.
        Dead = "dead",
    }
}

text_enum! {
    /// What happened to a message, in its timeline.
    EventKind {
        /// A party sent it.
        Received = "received",
        /// It is valid in the standard.
        Validated = "validated",
        /// Its recipients were chosen.
        Routed = "routed",
        /// An optional recipient was left out: its profile can't write the message.
        Skipped = "skipped",
        /// A recipient acknowledged it.
        Delivered = "delivered",
        /// An attempt failed; another follows.
        AttemptFailed = "attempt-failed",
        /// A delivery was given up.
        DeadLettered = "dead-lettered",
        /// An operator sent its dead letters again.
        Replayed = "replayed",
    }
}

text_enum! {
    /// Where a run of a pull job is.
    RunStatus {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// The process stopped during the run; the next run resumes after its last page.
        Interrupted = "interrupted",
    }
}

text_enum! {
    /// What started a run of a pull job.
    Trigger {
        /// The configuration's cron schedule.
        Schedule = "schedule",
        /// `raccordo inps pull` or `backfill`.
        Command = "command",
        /// `raccordo inps import` of a file.
        Import = "import",
    }
}

/// Reads a row's column as `T`; a text no variant has is a decoding error naming the column.
pub(super) fn column<T>(row: &sqlx::any::AnyRow, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(name)?;
    parse(&text)
        .ok_or_else(|| sqlx::Error::Decode(format!("{name} holds {text:?}, which this version does not know").into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_itself() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(*status));
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(&status.to_string()), Some(*status));
        }
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(*status));
        }
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.as_str()), Some(*trigger));
        }
        assert_eq!(DeliveryStatus::parse("in-flight"), None);
        assert_eq!(serde_json::to_string(&EventKind::AttemptFailed).ok().as_deref(), Some("\"attempt-failed\""));
    }
}

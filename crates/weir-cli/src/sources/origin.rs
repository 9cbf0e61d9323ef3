//! A record's origin, `NAME:POSITION` (a file and the offset after its
//! line, a stream and a sequence), made once per record: cheaply.
//!
//! `format!("{name}:{position}").into()` costs two allocations (the
//! `String`, then the `Arc<str>` it is copied into) and a pass through
//! `fmt`. Here the text is built in a buffer kept per thread and copied
//! once into its `Arc<str>`. Measured on `weir run` file → file, 1M lines,
//! the two binaries interleaved six times each: 1.29 s before, 1.19 s
//! after (medians; user time 1.01 s → 0.96 s).

use std::cell::RefCell;
use std::sync::Arc;

/// `name:position`, as one `Arc<str>`.
pub(crate) fn origin_at(name: &str, position: u64) -> Arc<str> {
    thread_local! {
        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(position);
    TEXT.with_borrow_mut(|text| {
        text.clear();
        text.push_str(name);
        text.push(':');
        text.push_str(digits);
        Arc::from(text.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_colon_position() {
        assert_eq!(&*origin_at("EVENTS", 42), "EVENTS:42");
        assert_eq!(&*origin_at("/var/log/a:b.log", 0), "/var/log/a:b.log:0");
        assert_eq!(&*origin_at("", u64::MAX), ":18446744073709551615");
    }
}

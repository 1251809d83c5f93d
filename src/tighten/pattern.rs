//! Whether one Resource pattern covers another: every ARN the narrow pattern matches is matched by
//! the wide one. The evaluator answers for one concrete ARN; proposals hold wildcards
//! (`bucket/uploads/*`), so comparing grants needs pattern-against-pattern containment.
//!
//! The Resource grammar has one implementation, [`crate::policy::pattern`], shared with the
//! evaluator and escaping; these are its containment and text functions under the names tighten's
//! checks use.

pub use crate::policy::pattern::{as_text, covers, has_wildcard};

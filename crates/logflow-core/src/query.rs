//! The query language. (Being written: see the helper's task.)

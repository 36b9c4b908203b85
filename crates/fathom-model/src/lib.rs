//! Model artifact and scorer (being built).

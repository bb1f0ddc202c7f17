//! Property tests over random operation sequences.

//! The Mercure hub (draft-dunglas-mercure-08, and pre-1.0 clients in compatibility mode)
//! against the real server: one module per area of the draft.

mod active;
mod authorization;
mod browser;
mod keys;
mod legacy;
mod publication;
mod smoke;
mod subscription;

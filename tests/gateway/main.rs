//! Store, daemon, HTTP API, webhooks and end-to-end runs.
//!
//! One test binary per area (linking each of 40 files separately took most
//! of the suite's build time); each module is one former test file.

mod api_bench;
mod api_events;
mod api_http;
mod api_openapi;
mod api_v1;
mod common;
mod daemon_hotplug;
mod daemon_prefixes;
mod daemon_restart;
mod daemon_ussd;
mod e2e_incoming;
mod e2e_wrap;
mod hardening;
mod sim_pin;
mod smpp_backend;
mod smpp_e2e;
mod smpp_py;
mod smpp_session;
mod smpp_store;
mod store_ambiguous;
mod store_claim_clear;
mod store_disk_full;
mod store_flow;
mod store_inbox;
mod store_kill;
mod store_queue;
mod store_set_settle;
mod store_webhooks;
mod unknown_settle;
mod webhook_delivery;
mod wrap_avoid;

//! The typed Mithril API client.

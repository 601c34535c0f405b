//! One async method per Mithril endpoint, grouped by API area.

mod catalog;
mod instances;
mod spot;

pub use catalog::resolve_name_or_fid;

//! Small schema transforms for what schemars' attributes cannot say.

use schemars::Schema;

/// Gives a list's items a description, so `kubectl explain` describes each item of a list of
/// plain strings (a struct's items take the struct's doc comment already).
pub(crate) fn item_description(text: &'static str) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        if let Some(items) = schema.get_mut("items").and_then(|i| i.as_object_mut()) {
            items.insert("description".to_owned(), text.into());
        }
    }
}

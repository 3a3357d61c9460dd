//! A form for a table of the config, drawn from the field list the config editor accepts
//! (`cairn_config::edit::fields`), so the form and the editor cannot disagree. Each input
//! names its field (`schedule`, `retention.keep_daily`) and its kind; the script sends the
//! changed ones to the API as `{"set": {…}, "remove": […]}` and puts each error the API
//! returns at its field.

use std::collections::BTreeMap;

use cairn_config::edit::fields::{Field, FieldType};
use cairn_config::edit::EditValue;
use maud::{html, Markup};

/// The text a field shows: a list one item per line, a table not at all (its subfields do).
fn text_of(value: Option<&EditValue>) -> String {
    match value {
        None | Some(EditValue::Table(_)) => String::new(),
        Some(EditValue::String(s)) => s.clone(),
        Some(EditValue::Integer(n)) => n.to_string(),
        Some(EditValue::Boolean(b)) => b.to_string(),
        Some(EditValue::Strings(items)) => items.join("\n"),
    }
}

fn input(name: &str, kind: FieldType, value: Option<&EditValue>, editable: bool) -> Markup {
    let text = text_of(value);
    let id = format!("field-{}", name.replace('.', "-"));
    let error_id = format!("error-{}", name.replace('.', "-"));
    let kind_name = match kind {
        FieldType::String => "string",
        FieldType::Strings => "strings",
        FieldType::Integer => "integer",
        FieldType::Boolean => "boolean",
        FieldType::InlineTable(_) | FieldType::Section(_) => "table",
    };
    html! {
        div.field data-field-wrap=(name) {
            label for=(id) { (name) }
            @match kind {
                FieldType::Strings => textarea id=(id) name=(name) data-field=(name) data-kind=(kind_name) data-initial=(text) rows="3" aria-describedby=(error_id) disabled[!editable] { (text) },
                FieldType::Boolean => select id=(id) name=(name) data-field=(name) data-kind=(kind_name) data-initial=(text) aria-describedby=(error_id) disabled[!editable] {
                    option value="" selected[text.is_empty()] { "(default)" }
                    option value="true" selected[text == "true"] { "true" }
                    option value="false" selected[text == "false"] { "false" }
                },
                FieldType::Integer => input id=(id) name=(name) type="number" data-field=(name) data-kind=(kind_name) data-initial=(text) value=(text) aria-describedby=(error_id) disabled[!editable];
                _ => input id=(id) name=(name) type="text" data-field=(name) data-kind=(kind_name) data-initial=(text) value=(text) aria-describedby=(error_id) disabled[!editable];
            }
            p.field-error id=(error_id) role="alert" hidden {}
        }
    }
}

/// Inputs for `fields` with `values` as the file has them.
pub fn fields_form(
    fields: &[Field],
    values: &BTreeMap<String, EditValue>,
    editable: bool,
) -> Markup {
    html! {
        @for field in fields {
            @match field.kind.subfields() {
                None => (input(field.name, field.kind, values.get(field.name), editable)),
                Some(subfields) => {
                    @let table = match values.get(field.name) { Some(EditValue::Table(t)) => Some(t), _ => None };
                    fieldset {
                        legend { (field.name) }
                        @for sub in subfields {
                            @let name = format!("{}.{}", field.name, sub.name);
                            (input(&name, sub.kind, table.and_then(|t| t.get(sub.name)), editable))
                        }
                    }
                }
            }
        }
    }
}

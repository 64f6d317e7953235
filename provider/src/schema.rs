//! Small helpers to write schemas readably: the description is the user documentation.

use std::collections::HashMap;

use tf_provider::schema::{Attribute, AttributeConstraint, AttributeType, Description};

pub enum Kind {
    String,
    Number,
    Bool,
    ListOfString,
    SetOfString,
}

impl Kind {
    fn ty(self) -> AttributeType {
        match self {
            Kind::String => AttributeType::String,
            Kind::Number => AttributeType::Number,
            Kind::Bool => AttributeType::Bool,
            Kind::ListOfString => AttributeType::List(Box::new(AttributeType::String)),
            Kind::SetOfString => AttributeType::Set(Box::new(AttributeType::String)),
        }
    }
}

fn attr(ty: AttributeType, constraint: AttributeConstraint, doc: &str) -> Attribute {
    Attribute {
        attr_type: ty,
        description: Description::markdown(doc),
        constraint,
        sensitive: false,
        deprecated: false,
    }
}

pub fn required(kind: Kind, doc: &str) -> Attribute {
    attr(kind.ty(), AttributeConstraint::Required, doc)
}

pub fn optional(kind: Kind, doc: &str) -> Attribute {
    attr(kind.ty(), AttributeConstraint::Optional, doc)
}

pub fn optional_computed(kind: Kind, doc: &str) -> Attribute {
    attr(kind.ty(), AttributeConstraint::OptionalComputed, doc)
}

pub fn computed(kind: Kind, doc: &str) -> Attribute {
    attr(kind.ty(), AttributeConstraint::Computed, doc)
}

/// A list of objects written as `[{ a = "x" }, ...]`. A plain `list(object)` type: tf-provider
/// 0.2 sends nested attribute types with both `type` and `nested_type` set, which Terraform
/// refuses, so field documentation goes in the attribute's description instead.
pub fn object_list(constraint: AttributeConstraint, doc: &str, fields: &[&str]) -> Attribute {
    let fields: HashMap<String, AttributeType> = fields
        .iter()
        .map(|k| (k.to_string(), AttributeType::String))
        .collect();
    attr(
        AttributeType::List(Box::new(AttributeType::Object(fields))),
        constraint,
        doc,
    )
}

pub fn sensitive(mut a: Attribute) -> Attribute {
    a.sensitive = true;
    a
}

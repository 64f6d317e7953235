//! Provider documentation in the Terraform registry layout, generated from the schema
//! descriptions and `examples/`. The committed `docs/` must equal what this renders: the test
//! `docs_are_fresh` fails when they drift, and `cargo xtask docs` rewrites them.

use std::collections::BTreeMap;

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, NestedBlock, Schema,
};
use tf_provider::{Diagnostics, Provider, Resource};

use crate::data_sources::{Field, FieldKind};
use crate::provider::{KmsProvider, Shared};
use crate::resources::external_proxy::ExternalProxyResource;
use crate::resources::hsm_binding::HsmBindingResource;
use crate::resources::instance::{InstanceResource, ALICLOUD_NAMES, IMPORT_NOTES};
use crate::resources::key::KeyResource;
use crate::resources::secret::SecretResource;

/// Files under `docs/` (relative path, content), rendered from the code and `examples/`.
pub fn render(examples_dir: &std::path::Path) -> Vec<(String, String)> {
    let read = |rel: &str| {
        std::fs::read_to_string(examples_dir.join(rel))
            .unwrap_or_else(|e| panic!("examples/{rel}: {e}"))
    };
    let mut diags = Diagnostics::default();
    let provider = KmsProvider::default()
        .schema(&mut diags)
        .expect("provider schema");
    let instance = InstanceResource::new(Shared::default())
        .schema(&mut diags)
        .expect("instance schema");

    let mut index = String::new();
    index.push_str("---\npage_title: \"kms Provider\"\ndescription: |-\n  Alibaba Cloud KMS instances through the OpenAPI, against mockcloud or the real cloud.\n---\n\n");
    index.push_str("# kms Provider\n\n");
    index.push_str(&provider.block.description.content);
    index.push_str("\n\n## Example Usage\n\n```terraform\n");
    index.push_str(&read("provider/provider.tf"));
    index.push_str("```\n\n## Schema\n\n");
    index.push_str(&arguments(&provider));
    index.push_str("\n## Secrets and state\n\nTerraform plugin protocol 6.5 (what this provider speaks) has no write-only attributes and no ephemeral resources: a secret given in configuration is stored in the Terraform state, marked sensitive. Keep state in an encrypted backend. The provider never reads secret values back from the API and never logs them.\n");

    let mut pages = vec![("index.md".into(), index)];
    let resources = [
        ResourceDoc {
            name: "instance",
            summary: "A KMS instance: purchase, enablement, upgrades, renewal.",
            schema: instance,
            import_notes: IMPORT_NOTES,
            alicloud: ALICLOUD_NAMES,
        },
        ResourceDoc {
            name: "hsm_binding",
            summary: "Binds a hardware KMS instance to an HSM cluster.",
            schema: HsmBindingResource::new(Shared::default()).schema(&mut diags).expect("binding schema"),
            import_notes: "Certificates and passwords are never returned by the API: after importing a binding with manual certificates, the next plan takes them from the configuration (nothing is sent). Destroy forgets the binding with a warning; the instance stays connected until its `kms_instance` is destroyed.",
            alicloud: &[("(the whole resource)", "none: the alicloud provider cannot enable hardware instances")],
        },
        ResourceDoc {
            name: "external_proxy",
            summary: "Connects an external KMS instance to the XKI proxy in front of your own HSM.",
            schema: ExternalProxyResource::new(Shared::default()).schema(&mut diags).expect("external proxy schema"),
            import_notes: "`access_key_secret` and `config_file` are never returned by the API: after an import the next plan takes them from the configuration (an update that sends nothing). `zones` is read back (the zones given at enablement, each with its vSwitch). With a manual configuration, `proxy_path`, `access_key_id` and `certificate_fingerprint` are read back (the fingerprint as 64 lowercase hex digits; another spelling of the same fingerprint is kept once in state). Destroy forgets the connection with a warning; the instance stays connected until its `kms_instance` is destroyed.",
            alicloud: &[("(the whole resource)", "none: the alicloud provider has no external key (XKI) support")],
        },
        ResourceDoc {
            name: "key",
            summary: "A key in a KMS instance.",
            schema: KeyResource::new(Shared::default()).schema(&mut diags).expect("key schema"),
            import_notes: "`pending_window_in_days` is not returned by the API: after import it is 7.",
            alicloud: &[
                ("instance_id", "`dkms_instance_id` (Optional: a default key without it)"),
                ("key_spec, key_usage", "`key_spec`, `key_usage`"),
                ("automatic_rotation", "`automatic_rotation` (`Enabled`/`Disabled`)"),
                ("rotation_interval", "`rotation_interval`"),
                ("enabled", "`status` (`Enabled`/`Disabled`)"),
                ("pending_window_in_days", "`pending_window_in_days` (required in practice there)"),
                ("protection_level (computed from the instance)", "`protection_level` (ForceNew, default SOFTWARE: keys in hardware instances plan a replacement)"),
            ],
        },
        ResourceDoc {
            name: "secret",
            summary: "A secret in a KMS instance.",
            schema: SecretResource::new(Shared::default()).schema(&mut diags).expect("secret schema"),
            import_notes: "The value is never read from the API: after import the next plan shows `value` changing, and the apply puts it as a new version.",
            alicloud: &[
                ("name", "`secret_name`"),
                ("value", "`secret_data` (read back from the API into the state on every refresh)"),
                ("value_type", "`secret_data_type`"),
                ("encryption_key_id", "`encryption_key_id`"),
                ("instance_id", "`dkms_instance_id`"),
                ("version_id (computed)", "`version_id` (required, chosen by the user)"),
                ("force_delete", "`force_delete_without_recovery`"),
                ("recovery_window_in_days", "`recovery_window_in_days`"),
            ],
        },
    ];
    for r in &resources {
        pages.push((format!("resources/{}.md", r.name), resource_page(r, &read)));
    }
    for ds in crate::data_sources::documented() {
        let name = format!("kms_{}", ds.name);
        let mut page = format!(
            "---\npage_title: \"{name} Data Source - kms\"\ndescription: |-\n  {}\n---\n\n# {name} (Data Source)\n\n",
            ds.summary
        );
        page.push_str(&ds.schema.block.description.content);
        page.push_str("\n\n## Example Usage\n\n```terraform\n");
        page.push_str(&read(&format!("data-sources/{name}/data-source.tf")));
        page.push_str("```\n\n## Schema\n\n");
        let linked: Vec<&str> = ds.nested.iter().map(|(attr, _)| *attr).collect();
        page.push_str(&arguments_linked(&ds.schema, &linked));
        for (attr, fields) in &ds.nested {
            page.push_str(&nested(attr, fields));
        }
        pages.push((format!("data-sources/{}.md", ds.name), page));
    }
    pages
}

struct ResourceDoc {
    name: &'static str,
    summary: &'static str,
    schema: Schema,
    import_notes: &'static str,
    alicloud: &'static [(&'static str, &'static str)],
}

/// A resource page: description, example, schema, import, the alicloud name table.
fn resource_page(r: &ResourceDoc, read: &dyn Fn(&str) -> String) -> String {
    let name = format!("kms_{}", r.name);
    let mut res = format!(
        "---\npage_title: \"{name} Resource - kms\"\ndescription: |-\n  {}\n---\n\n# {name} (Resource)\n\n",
        r.summary
    );
    res.push_str(&r.schema.block.description.content);
    res.push_str("\n\n## Example Usage\n\n```terraform\n");
    res.push_str(&read(&format!("resources/{name}/resource.tf")));
    res.push_str("```\n\n## Schema\n\n");
    res.push_str(&arguments(&r.schema));
    res.push_str("\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n");
    res.push_str(&read(&format!("resources/{name}/import.sh")));
    res.push_str("```\n\n");
    res.push_str(r.import_notes);
    res.push_str(&format!(
        "\n\n## Compared with alicloud_{name}\n\n| this provider | aliyun/alicloud |\n|---|---|\n"
    ));
    for (ours, theirs) in r.alicloud {
        res.push_str(&format!("| `{ours}` | {theirs} |\n"));
    }
    res
}

/// The fields of a list-of-object attribute, then those of any list inside it.
fn nested(path: &str, fields: &[Field]) -> String {
    let mut out = format!(
        "<a id=\"{}\"></a>\n### Nested Schema for `{path}`\n\n",
        anchor(path)
    );
    for f in fields {
        let ty = match f.kind {
            FieldKind::Objects(_) => format!(
                "List of Object, see [below for nested schema](#{})",
                anchor(&format!("{path}.{}", f.name))
            ),
            ref k => type_name(&k.ty()),
        };
        out.push_str(&format!("- `{}` ({ty}) {}\n", f.name, f.doc));
    }
    out.push('\n');
    for f in fields {
        if let FieldKind::Objects(inner) = f.kind {
            out.push_str(&nested(&format!("{path}.{}", f.name), inner));
        }
    }
    out
}

/// The anchor tfplugindocs gives a nested schema (`nestedatt--zones--vswitches`).
fn anchor(path: &str) -> String {
    format!("nestedatt--{}", path.replace('.', "--"))
}

fn type_name(t: &AttributeType) -> String {
    match t {
        AttributeType::String => "String".into(),
        AttributeType::Number => "Number".into(),
        AttributeType::Bool => "Boolean".into(),
        AttributeType::List(inner) => format!("List of {}", type_name(inner)),
        AttributeType::Set(inner) => format!("Set of {}", type_name(inner)),
        AttributeType::Map(inner) => format!("Map of {}", type_name(inner)),
        AttributeType::Object(fields) => {
            let names: Vec<&str> = fields
                .keys()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            format!("Object ({})", names.join(", "))
        }
        _ => "Dynamic".into(),
    }
}

fn line(name: &str, a: &Attribute) -> String {
    line_linked(name, a, false)
}

/// An attribute line; a `linked` one points to its nested schema instead of spelling its type.
fn line_linked(name: &str, a: &Attribute, linked: bool) -> String {
    let sensitive = if a.sensitive { ", Sensitive" } else { "" };
    let ty = if linked {
        format!(
            "List of Object, see [below for nested schema](#{})",
            anchor(name)
        )
    } else {
        type_name(&a.attr_type)
    };
    format!("- `{name}` ({ty}{sensitive}) {}\n", a.description.content)
}

/// Required, optional and read-only sections, then nested blocks.
fn arguments(schema: &Schema) -> String {
    arguments_linked(schema, &[])
}

/// [`arguments`], with the `linked` attributes pointing to their nested schema.
fn arguments_linked(schema: &Schema, linked: &[&str]) -> String {
    let attrs: BTreeMap<&String, &Attribute> = schema.block.attributes.iter().collect();
    let mut out = String::new();
    for (title, wanted) in [
        ("Required", &[AttributeConstraint::Required][..]),
        (
            "Optional",
            &[
                AttributeConstraint::Optional,
                AttributeConstraint::OptionalComputed,
            ][..],
        ),
        ("Read-Only", &[AttributeConstraint::Computed][..]),
    ] {
        let lines: Vec<String> = attrs
            .iter()
            .filter(|(_, a)| wanted.contains(&a.constraint))
            .map(|(n, a)| line_linked(n, a, linked.contains(&n.as_str())))
            .collect();
        if !lines.is_empty() {
            out.push_str(&format!("### {title}\n\n{}\n", lines.concat()));
        }
    }
    let blocks: BTreeMap<&String, &NestedBlock> = schema.block.blocks.iter().collect();
    for (name, nb) in blocks {
        let b: &Block = match nb {
            NestedBlock::Single(b)
            | NestedBlock::List(b)
            | NestedBlock::Set(b)
            | NestedBlock::Map(b)
            | NestedBlock::Group(b)
            | NestedBlock::Optional(b) => b,
        };
        out.push_str(&format!(
            "### Nested block `{name}`\n\n{}\n\n",
            b.description.content
        ));
        let inner: BTreeMap<&String, &Attribute> = b.attributes.iter().collect();
        for (n, a) in inner {
            out.push_str(&line(n, a));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn docs_are_fresh() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let update = std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1");
        let mut stale = Vec::new();
        for (rel, content) in super::render(&root.join("examples")) {
            let path = root.join("docs").join(&rel);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                if update {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, content).unwrap();
                }
                stale.push(rel);
            }
        }
        assert!(
            update || stale.is_empty(),
            "docs/ is stale ({}): run `cargo xtask docs` and commit the result",
            stale.join(", ")
        );
    }
}

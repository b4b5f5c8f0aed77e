use std::path::Path;

use expect_test::{Expect, expect};

use super::*;
use crate::ops::spec::RefTarget;
use crate::revision::write::steps_yaml;

fn schema(text: &str) -> Schema {
    crate::schema_file::parse(Path::new("schema.yaml"), text)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default()
}

/// The proposal from `from` to `to` as YAML, notes as comments.
fn proposal(from: &str, to: &str, renames: &[&str]) -> String {
    let renames: Vec<Rename> = renames.iter().map(|r| r.parse().unwrap()).collect();
    let out = autogenerate(&schema(from), &schema(to), &renames).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<String> = steps_yaml(&out.steps)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        for (_, note) in out.notes.iter().filter(|(at, _)| *at == i) {
            text.push_str(&format!("# {note}\n"));
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn check(from: &str, to: &str, renames: &[&str], expected: Expect) {
    expected.assert_eq(&proposal(from, to, renames));
    // From the target, there is nothing left to do.
    assert_eq!(proposal(to, to, &[]), "");
}

const CRM: &str = r#"
enums:
  deal_state: [open, won, lost]
tables:
  companies:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: name, type: string(100), nullable: false}
  contacts:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: company_id, type: integer, references: companies.id}
      - {name: phone, type: string(40)}
      - {name: email, type: string(200)}
    indexes:
      - {columns: [email]}
  deals:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: contact_id, type: integer, references: contacts.id}
      - {name: state, type: enum(deal_state), nullable: false, default: open}
"#;

#[test]
fn every_kind_of_change_in_an_order_that_applies() {
    let to = r#"
enums:
  deal_state: [open, signed, won]
  deal_kind: [new, renewal]
tables:
  companies:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: name, type: string, nullable: false, unique: true}
      - {name: domain, type: string(255), default: example.com}
    checks:
      - {name: ck_companies_name, expr: "name <> ''"}
  contacts:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: company_id, type: integer, references: companies.id, on_delete: cascade}
      - {name: phone_number, type: string(40)}
      - {name: email, type: string(200), nullable: false}
    indexes:
      - {columns: [email], unique: true}
  deals:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: contact_id, type: integer, references: contacts.id}
      - {name: state, type: enum(deal_state), nullable: false, default: signed}
      - {name: kind, type: enum(deal_kind)}
      - {name: owner_id, type: integer, references: users.id}
  users:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: email, type: string(200), nullable: false}
"#;
    check(
        CRM,
        to,
        &[],
        expect![[r#"
            - create_enum: {name: deal_kind, values: [new, renewal]}
            - alter_enum: {name: deal_state, add: signed, after: open}
            - drop_foreign_key: {table: contacts, name: fk_contacts_company_id_companies}
            - drop_index: {name: ix_contacts_email, table: contacts}
            # column 'contacts.phone' is dropped and 'phone_number' added with the same definition: if it is a rename, run again with `--rename contacts.phone:phone_number` (rename_column keeps its values)
            - drop_column: {table: contacts, column: phone}
            - add_column: {table: companies, column: {name: domain, type: string(255), default: example.com}}
            - add_column: {table: contacts, column: {name: phone_number, type: string(40)}}
            - add_column: {table: deals, column: {name: kind, type: enum(deal_kind)}}
            - add_column: {table: deals, column: {name: owner_id, type: integer}}
            - alter_column: {table: companies, column: name, type: string}
            - alter_column: {table: contacts, column: email, nullable: false}
            - alter_column: {table: deals, column: state, default: signed}
            - alter_enum: {name: deal_state, remove: lost}
            - create_table: {table: users, columns: [{name: id, type: integer, primary_key: true}, {name: email, type: string(200), nullable: false}]}
            - add_unique: {table: companies, columns: [name]}
            - add_check: {table: companies, name: ck_companies_name, expr: name <> ''}
            - create_index: {table: contacts, columns: [email], unique: true}
            - add_foreign_key: {table: contacts, columns: [company_id], references: {table: companies, columns: [id]}, on_delete: cascade}
            - add_foreign_key: {table: deals, columns: [owner_id], references: {table: users, columns: [id]}}
        "#]],
    );
}

#[test]
fn renames_asked_for_keep_the_data_and_come_first() {
    let to = CRM
        .replace("phone, type", "phone_number, type")
        .replace("[open, won, lost]", "[open, signed, lost]");
    check(
        CRM,
        &to,
        &["contacts.phone:phone_number", "deal_state.won:signed"],
        expect![[r#"
            - rename_column: {table: contacts, column: phone, to: phone_number}
            - alter_enum: {name: deal_state, rename: {from: won, to: signed}}
        "#]],
    );
    let renamed_table = CRM
        .replace("  companies:\n", "  firms:\n")
        .replace("companies.id", "firms.id");
    // The derived names of a renamed table stay; schema.yaml says so where it names them.
    let renamed_table = renamed_table.replace(
        "      - {name: name, type: string(100), nullable: false}\n",
        "      - {name: name, type: string(100), nullable: false}\n    primary_key: {name: pk_companies, columns: [id]}\n",
    ).replace("      - {name: id, type: integer, primary_key: true}\n      - {name: name", "      - {name: id, type: integer, nullable: false}\n      - {name: name");
    expect![[r#"
        - rename_table: {table: companies, to: firms}
        - drop_foreign_key: {table: contacts, name: fk_contacts_company_id_companies}
        - add_foreign_key: {table: contacts, columns: [company_id], references: {table: firms, columns: [id]}}
    "#]]
    .assert_eq(&proposal(CRM, &renamed_table, &["companies:firms"]));
}

#[test]
fn a_rename_that_names_nothing_is_refused() {
    for (rename, expected) in [
        ("nope:firms", "there is no table 'nope' to rename"),
        (
            "companies:nope",
            "the target schema has no new table 'nope'",
        ),
        (
            "contacts.fax:phone_number",
            "table 'contacts' has no column 'fax'",
        ),
        ("deal_state.x:y", "enum 'deal_state' has no value 'x'"),
        ("ghost.a:b", "there is no table or enum 'ghost'"),
    ] {
        let rename: Rename = rename.parse().unwrap();
        let err = autogenerate(&schema(CRM), &schema(CRM), &[rename]).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!("a.b.c".parse::<Rename>().is_err());
    assert!("nocolon".parse::<Rename>().is_err());
}

#[test]
fn tables_referencing_each_other_are_created_then_linked_and_dropped_unlinked() {
    let cycle = r#"
tables:
  a:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: b_id, type: integer, references: b.id}
  b:
    columns:
      - {name: id, type: integer, primary_key: true}
      - {name: a_id, type: integer}
"#;
    let mut linked = schema(cycle);
    let add = AddForeignKey {
        table: "b".into(),
        name: None,
        columns: vec!["a_id".into()],
        references: RefTarget {
            table: "a".into(),
            columns: vec!["id".into()],
        },
        on_delete: None,
        on_update: None,
    };
    crate::ops::Operation::apply(&add, &mut linked).unwrap();
    let out = autogenerate(&Schema::default(), &linked, &[]).unwrap();
    expect![[r#"
        - create_table: {table: b, columns: [{name: id, type: integer, primary_key: true}, {name: a_id, type: integer}]}
        - create_table: {table: a, columns: [{name: id, type: integer, primary_key: true}, {name: b_id, type: integer, references: b.id}]}
        - add_foreign_key: {table: b, columns: [a_id], references: {table: a, columns: [id]}}
    "#]]
    .assert_eq(&steps_yaml(&out.steps).unwrap());
    let out = autogenerate(&linked, &Schema::default(), &[]).unwrap();
    expect![[r#"
        - drop_foreign_key: {table: a, name: fk_a_b_id_b}
        - drop_table: {table: b}
        - drop_table: {table: a}
    "#]]
    .assert_eq(&steps_yaml(&out.steps).unwrap());
}

#[test]
fn a_changed_primary_key_is_named_not_guessed() {
    let to = CRM.replace(
        "      - {name: id, type: integer, primary_key: true}\n      - {name: contact_id",
        "      - {name: id, type: integer, nullable: false}\n      - {name: contact_id",
    );
    let err = autogenerate(&schema(CRM), &schema(&to), &[]).unwrap_err();
    assert!(
        err.to_string().contains("the primary key of table 'deals' is 'pk_deals' (id) at the start and none in the target"),
        "{err}"
    );
}

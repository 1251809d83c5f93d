//! Amazon DynamoDB (and DynamoDB Streams, which authorizes under the same prefix).
//!
//! **What CloudTrail logs.** Table management calls are management events; item calls
//! (`GetItem`, `PutItem`, `Query`, `Scan`, the batch and transaction calls, PartiQL
//! `ExecuteStatement`…) are data events, logged only when the trail asks for them.
//! `requestParameters` names the table in `tableName` (and the index in `indexName` for a `Query`
//! or `Scan` on an index); `BatchGetItem`/`BatchWriteItem` name their tables as the keys of
//! `requestItems` (or as `tableName` of its entries); CloudTrail logs a transaction's items as
//! `requestItems[]`, each with its `operation` (`Put`, `Update`, `Delete`, `ConditionCheck`;
//! `Get` for `TransactGetItems`) and its table (`tableName`, on some items `TableName`: Amazon
//! DynamoDB Developer Guide, "Understanding DynamoDB log file entries", `TransactWriteItems`),
//! while the proxy records them as `transactItems[]`, each under its kind (`put`, `update`,
//! `delete`, `conditionCheck`, `get`) with its own `tableName`; PartiQL calls carry the statement
//! text (`statement`, or `requestItems[]` / `transactStatements[]` of `{statement}`).
//!
//! **How IAM authorizes the calls.** Most calls need the action of their own name on the table.
//! A transaction is authorized item by item: each item needs the action of its kind on its table
//! (`put` → `dynamodb:PutItem`, `update` → `UpdateItem`, `delete` → `DeleteItem`,
//! `conditionCheck` → `ConditionCheckItem`, `get` → `GetItem`); where only the operation is
//! known (SDK monitoring), `TransactGetItems` is taken as `dynamodb:GetItem`. A PartiQL statement
//! needs the PartiQL action of its verb (`SELECT` → `dynamodb:PartiQLSelect`, `INSERT` → `PartiQLInsert`, `UPDATE` →
//! `PartiQLUpdate`, `DELETE` → `PartiQLDelete`) on the table or index it names.
//!
//! **ARNs.** A table is `arn:<partition>:dynamodb:<region>:<account>:table/<table>`; an index
//! `…:table/<table>/index/<index>`. A call on an index is granted on the index ARN when the action
//! accepts one (`Query`, `Scan`), else on the table (`GetItem` never lands on an index).

use super::rule::{Ctx, Step, FROM_RESOURCES};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

/// DynamoDB actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    match event_name {
        "TransactGetItems" => Some("GetItem"),
        _ => None,
    }
}

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let table_arn = |t: &str| {
        if t.starts_with("arn:") {
            lit(t)
        } else {
            ctx.arn("dynamodb", &format!("table/{t}"))
        }
    };
    let step = |action: &str, candidates, action_rule, resource_rule| Step {
        condition: None,
        action: action.to_string(),
        candidates,
        action_rule,
        resource_rule,
    };
    let event = ctx.call.event_name;
    match event {
        "TransactWriteItems" | "TransactGetItems" => transaction_items(ctx.req)
            .into_iter()
            .map(|(action, table)| {
                step(
                    action,
                    vec![table_arn(table)],
                    "each item of a transaction needs its own item action",
                    "table from the transaction item",
                )
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => {
            let tables: Vec<String> = match ctx.req.get("requestItems") {
                Some(Value::Object(map)) => map.keys().cloned().collect(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.get("tableName").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            tables
                .iter()
                .map(|t| {
                    step(
                        action,
                        vec![table_arn(t)],
                        action_rule,
                        "tables of requestItems",
                    )
                })
                .collect()
        }
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => {
            let statements: Vec<&str> = match event {
                "ExecuteStatement" => ctx.s("statement").into_iter().collect(),
                // CloudTrail logs a batch's statements as `requestItems` (the API's
                // `Statements`), a transaction's as `transactStatements`.
                _ => {
                    let lists: &[&str] = if event == "ExecuteTransaction" {
                        &["transactStatements"]
                    } else {
                        &["requestItems", "statements"]
                    };
                    lists
                        .iter()
                        .filter_map(|list| ctx.req.get(*list).and_then(Value::as_array))
                        .flatten()
                        .filter_map(|s| s.get("statement").and_then(Value::as_str))
                        .collect()
                }
            };
            statements
                .into_iter()
                .filter_map(partiql)
                .map(|(action, table, index)| match index {
                    Some(index) => step(
                        action,
                        vec![
                            lit(&format!("{}/index/{index}", table_arn(&table))),
                            table_arn(&table),
                        ],
                        "PartiQL statements need the PartiQL action of their verb",
                        "index named in the statement",
                    ),
                    None => step(
                        action,
                        vec![table_arn(&table)],
                        "PartiQL statements need the PartiQL action of their verb",
                        "table named in the statement",
                    ),
                })
                .collect()
        }
        _ => {
            let Some(table) = ctx.s("tableName") else {
                return vec![step(action, Vec::new(), action_rule, FROM_RESOURCES)];
            };
            let mut candidates = Vec::new();
            if let Some(index) = ctx.s("indexName") {
                candidates.push(if table.starts_with("arn:") {
                    lit(&format!("{table}/index/{index}"))
                } else {
                    ctx.arn("dynamodb", &format!("table/{table}/index/{index}"))
                });
            }
            candidates.push(table_arn(table));
            let rule = if candidates.len() == 2 {
                "index ARN from tableName and indexName"
            } else {
                "table ARN from tableName"
            };
            vec![step(action, candidates, action_rule, rule)]
        }
    }
}

/// The item action and table of each item of a transaction, in both shapes it is recorded in:
/// CloudTrail's `requestItems[]` of `{operation, tableName}` (the developer guide's
/// `TransactWriteItems` example spells the table `tableName` on some items and `TableName` on
/// others), and the proxy's `transactItems[]` of `{<kind>: {tableName}}`.
fn transaction_items(req: &Value) -> Vec<(&'static str, &str)> {
    let action = |kind: &str| match kind.to_ascii_lowercase().as_str() {
        "put" => Some("PutItem"),
        "update" => Some("UpdateItem"),
        "delete" => Some("DeleteItem"),
        "conditioncheck" => Some("ConditionCheckItem"),
        "get" => Some("GetItem"),
        _ => None,
    };
    fn table(body: &Value) -> Option<&str> {
        ["tableName", "TableName"]
            .iter()
            .find_map(|k| body.get(k).and_then(Value::as_str))
            .filter(|t| !t.is_empty())
    }
    let list = |key: &str| {
        req.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for item in list("requestItems") {
        let kind = item.get("operation").and_then(Value::as_str);
        if let (Some(action), Some(t)) = (kind.and_then(action), table(item)) {
            out.push((action, t));
        }
    }
    for item in list("transactItems") {
        for (kind, body) in item.as_object().into_iter().flatten() {
            if let (Some(action), Some(t)) = (action(kind), table(body)) {
                out.push((action, t));
            }
        }
    }
    out
}

/// The PartiQL action and table of a statement (`SELECT … FROM "orders"` → PartiQLSelect, orders).
fn partiql(statement: &str) -> Option<(&'static str, String, Option<String>)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let verb = words.first()?.to_ascii_uppercase();
    let (action, after) = match verb.as_str() {
        "SELECT" => ("PartiQLSelect", "FROM"),
        "INSERT" => ("PartiQLInsert", "INTO"),
        "DELETE" => ("PartiQLDelete", "FROM"),
        "UPDATE" => ("PartiQLUpdate", "UPDATE"),
        _ => return None,
    };
    let pos = words.iter().position(|w| w.eq_ignore_ascii_case(after))?;
    let target = words.get(pos + 1)?;
    // `"table"` or `"table"."index"`: a statement on an index is authorized on the index ARN.
    let mut parts = target
        .splitn(2, '.')
        .map(|p| p.trim_matches(|c| c == '"' || c == '\''));
    let table = parts.next().filter(|t| !t.is_empty())?;
    let index = parts.next().filter(|i| !i.is_empty());
    Some((action, table.to_string(), index.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::test_support::*;
    use serde_json::json;

    fn table(name: &str) -> String {
        format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{name}")
    }

    #[test]
    fn partiql_statements() {
        assert_eq!(
            partiql(r#"SELECT * FROM "orders" WHERE pk = ?"#),
            Some(("PartiQLSelect", "orders".to_string(), None))
        );
        assert_eq!(
            partiql(r#"select * from "orders"."by-customer""#),
            Some((
                "PartiQLSelect",
                "orders".to_string(),
                Some("by-customer".to_string())
            ))
        );
        assert_eq!(
            partiql("INSERT INTO t VALUE {'a': 1}"),
            Some(("PartiQLInsert", "t".to_string(), None))
        );
        assert_eq!(partiql("EXISTS(SELECT 1)"), None);
    }

    #[test]
    fn transactions_need_one_action_per_item_kind() {
        let ev = event(
            "dynamodb",
            "TransactWriteItems",
            json!({"transactItems": [
                {"put": {"tableName": "orders", "item": {}}},
                {"update": {"tableName": "stock", "key": {}}},
                {"conditionCheck": {"tableName": "customers", "key": {}}},
                {"delete": {"tableName": "carts", "key": {}}}
            ]}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("dynamodb:ConditionCheckItem", &table("customers")),
                p("dynamodb:DeleteItem", &table("carts")),
                p("dynamodb:PutItem", &table("orders")),
                p("dynamodb:UpdateItem", &table("stock")),
            ]
        );
    }

    #[test]
    fn transactions_as_cloudtrail_logs_them() {
        // The request of the `TransactWriteItems` example of the Amazon DynamoDB Developer
        // Guide ("Understanding DynamoDB log file entries"), tables renamed: `requestItems[]`
        // with `operation`, and `tableName` on two items but `TableName` on the other two.
        let ev = with(
            event(
                "dynamodb",
                "TransactWriteItems",
                json!({
                    "requestItems": [
                        {"operation": "Put", "tableName": "orders",
                         "key": {"pk": "o-1"}, "items": ["pk", "total"],
                         "conditionExpression": "#AT = :A",
                         "returnValuesOnConditionCheckFailure": "ALL_OLD"},
                        {"operation": "Update", "tableName": "stock",
                         "key": {"sku": "s-9"}, "updateExpression": "SET #q = :newval"},
                        {"operation": "Delete", "TableName": "carts",
                         "key": {"pk": "c-3"}},
                        {"operation": "ConditionCheck", "TableName": "customers",
                         "Key": {"pk": "u-7"}, "ConditionExpression": "attribute_exists(pk)"}
                    ],
                    "returnConsumedCapacity": "TOTAL",
                    "returnItemCollectionMetrics": "SIZE"
                }),
            ),
            "resources",
            json!([{"accountId": ACCOUNT, "type": "AWS::DynamoDB::Table",
                    "ARN": table("orders")}]),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("dynamodb:ConditionCheckItem", &table("customers")),
                p("dynamodb:DeleteItem", &table("carts")),
                p("dynamodb:PutItem", &table("orders")),
                p("dynamodb:UpdateItem", &table("stock")),
            ]
        );
        // No CloudTrail sample of `TransactGetItems` was found; it is read the same way, each
        // `Get` item needing `dynamodb:GetItem` on its table.
        let ev = event(
            "dynamodb",
            "TransactGetItems",
            json!({"requestItems": [
                {"operation": "Get", "tableName": "orders", "key": {"pk": "o-1"}},
                {"operation": "Get", "tableName": "customers", "key": {"pk": "u-7"}}
            ]}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("dynamodb:GetItem", &table("customers")),
                p("dynamodb:GetItem", &table("orders")),
            ]
        );
    }

    #[test]
    fn partiql_by_verb_and_table_or_index() {
        let t = table("orders");
        for (stmt, action) in [
            (
                r#"SELECT * FROM "orders" WHERE pk = ?"#,
                "dynamodb:PartiQLSelect",
            ),
            (
                r#"INSERT INTO "orders" VALUE {'pk': ?}"#,
                "dynamodb:PartiQLInsert",
            ),
            (
                r#"UPDATE "orders" SET a = 1 WHERE pk = ?"#,
                "dynamodb:PartiQLUpdate",
            ),
            (
                r#"DELETE FROM orders WHERE pk = ?"#,
                "dynamodb:PartiQLDelete",
            ),
        ] {
            let ev = event("dynamodb", "ExecuteStatement", json!({"statement": stmt}));
            assert_eq!(pairs(&ev), [p(action, &t)], "{stmt}");
        }
        let ev = event(
            "dynamodb",
            "ExecuteStatement",
            json!({"statement": r#"SELECT * FROM "orders"."by-customer" WHERE c = ?"#}),
        );
        assert_eq!(
            pairs(&ev),
            [p(
                "dynamodb:PartiQLSelect",
                &format!("{t}/index/by-customer")
            )]
        );
    }

    /// A batch as CloudTrail logs it: the statements under `requestItems`, each `{statement}`
    /// (AWS, DynamoDB developer guide, "Understanding DynamoDB log file entries",
    /// BatchExecuteStatement), not under the API's own name `Statements`.
    #[test]
    fn a_batch_of_statements_as_cloudtrail_logs_it() {
        let (orders, stock) = (table("orders"), table("stock"));
        let ev = event(
            "dynamodb",
            "BatchExecuteStatement",
            json!({"requestItems": [
                {"statement": r#"UPDATE "orders" SET status = ? WHERE pk = ?"#},
                {"statement": r#"INSERT INTO "stock" VALUE {'pk': ?}"#}
            ]}),
        );
        assert_eq!(
            pairs(&ev),
            [
                p("dynamodb:PartiQLInsert", &stock),
                p("dynamodb:PartiQLUpdate", &orders)
            ]
        );
    }

    #[test]
    fn query_on_an_index_uses_the_index_arn() {
        let t = table("orders");
        assert_pairs(
            "dynamodb",
            &[
                (
                    "Query",
                    json!({"tableName": "orders", "indexName": "by-customer"}),
                    &[("dynamodb:Query", &format!("{t}/index/by-customer"))],
                ),
                (
                    "Query",
                    json!({"tableName": "orders"}),
                    &[("dynamodb:Query", &t)],
                ),
                // GetItem takes no index: a table call never lands on an index ARN.
                (
                    "GetItem",
                    json!({"tableName": "orders", "key": {}}),
                    &[("dynamodb:GetItem", &t)],
                ),
            ],
        );
    }
}

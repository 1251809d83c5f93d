//! Amazon Bedrock runtime.
//!
//! **What CloudTrail logs.** The runtime calls (`InvokeModel`, `InvokeModelWithResponseStream`,
//! `Converse`, `ConverseStream`) are logged with event source `bedrock.amazonaws.com` and the
//! model in `requestParameters.modelId`, as the runtime API takes it (Amazon Bedrock API
//! reference, `InvokeModel`, `Converse`: `modelId`): a foundation model id
//! (`anthropic.claude-3-haiku-20240307-v1:0`), a system-defined inference profile id (the model
//! id behind a geography prefix: `us.`, `eu.`, `apac.`, `global.`…), or an ARN (foundation
//! model, inference profile, application inference profile, provisioned model, imported or
//! custom model deployment, prompt router).
//!
//! **How IAM authorizes the calls.** `Converse` is authorized as `bedrock:InvokeModel` and
//! `ConverseStream` as `bedrock:InvokeModelWithResponseStream` (Amazon Bedrock User Guide, "Carry
//! out a conversation with the Converse API operations": the Converse actions need the
//! InvokeModel permissions; the Service Authorization Reference has no `bedrock:Converse`). The
//! action is checked on the model the request names. Through an inference profile it is checked
//! on the profile and again on the foundation model in the Region the profile routes the call to
//! (Amazon Bedrock User Guide, "Geographic cross-Region inference": "IAM policy requirements"); a
//! cross-Region profile routes to any of its destination Regions, which the request does not
//! name: the model's grant takes the foundation-model ARNs of the event's `resources[]`, else
//! `"*"` with the reason recorded, never only the source Region's model, which a routed call
//! would not match.
//!
//! **ARNs.** A foundation model is `arn:<partition>:bedrock:<region>::foundation-model/<id>`
//! (no account); a system-defined inference profile
//! `arn:<partition>:bedrock:<region>:<account>:inference-profile/<id>`.

use super::rule::{Ctx, Step, FROM_RESOURCES};
use crate::policy::escape::escape_literal as lit;

/// Bedrock actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    match event_name {
        "Converse" => Some("InvokeModel"),
        "ConverseStream" => Some("InvokeModelWithResponseStream"),
        _ => None,
    }
}

/// The geography prefixes of system-defined cross-Region inference profile ids.
const PROFILE_PREFIXES: &[&str] = &["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"];

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let invocation = matches!(
        ctx.call.event_name,
        "InvokeModel" | "InvokeModelWithResponseStream" | "Converse" | "ConverseStream"
    );
    // Every other call (and one without a model) follows the general rule, as before.
    let Some(model) = ctx.s("modelId").filter(|_| invocation) else {
        return super::other::steps(ctx, action, action_rule);
    };
    let model_arn = |id: &str| {
        lit(&format!(
            "arn:{}:bedrock:{}::foundation-model/{id}",
            ctx.partition, ctx.region
        ))
    };
    if model.starts_with("arn:") {
        return Step::one(
            action,
            vec![lit(model)],
            action_rule,
            "model ARN from modelId",
        );
    }
    let profile = model
        .split_once('.')
        .is_some_and(|(prefix, rest)| PROFILE_PREFIXES.contains(&prefix) && rest.contains('.'));
    if !profile {
        return Step::one(
            action,
            vec![model_arn(model)],
            action_rule,
            "foundation model from modelId",
        );
    }
    let mut steps = Step::one(
        action,
        vec![ctx.arn("bedrock", &format!("inference-profile/{model}"))],
        action_rule,
        "inference profile from modelId",
    );
    // The model is checked in the destination Region, which may be any of the profile's and is
    // not in the request: only resources[] can name it; else `*`, with the reason recorded,
    // rather than a grant in the source Region that a routed call would not match.
    steps.extend(Step::one(
        action,
        Vec::new(),
        "an inference profile is authorized again on the foundation model in the Region it \
         routes to, which the request does not name",
        FROM_RESOURCES,
    ));
    steps
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn models_profiles_and_converse() {
        // The runtime requests as the Amazon Bedrock API reference gives them; CloudTrail
        // records the model as `modelId` and leaves the prompt out.
        let model = |id: &str| format!("arn:aws:bedrock:eu-west-1::foundation-model/{id}");
        let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
        let profile = format!("arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/eu.{haiku}");
        let provisioned = format!("arn:aws:bedrock:eu-west-1:{ACCOUNT}:provisioned-model/abc123");
        assert_pairs(
            "bedrock",
            &[
                (
                    "InvokeModel",
                    json!({"modelId": haiku}),
                    &[("bedrock:InvokeModel", &model(haiku))],
                ),
                (
                    "Converse",
                    json!({"modelId": haiku}),
                    &[("bedrock:InvokeModel", &model(haiku))],
                ),
                (
                    "ConverseStream",
                    json!({"modelId": format!("eu.{haiku}")}),
                    &[
                        ("bedrock:InvokeModelWithResponseStream", "*"),
                        ("bedrock:InvokeModelWithResponseStream", &profile),
                    ],
                ),
                (
                    "InvokeModelWithResponseStream",
                    json!({"modelId": provisioned}),
                    &[("bedrock:InvokeModelWithResponseStream", &provisioned)],
                ),
                // `amazon.titan…` has a dot but no geography prefix: a foundation model.
                (
                    "InvokeModel",
                    json!({"modelId": "amazon.titan-embed-text-v2:0"}),
                    &[(
                        "bedrock:InvokeModel",
                        &model("amazon.titan-embed-text-v2:0"),
                    )],
                ),
            ],
        );
    }
}

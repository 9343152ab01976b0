//! Alert filters, narrowed to what the caller's token may see.

use std::collections::BTreeSet;

use mspwatch_alert::{Alert, Severity};

use crate::auth::Scope;
use crate::convert::severity_from_proto;
use crate::pb;

/// Most values one filter list may hold.
const MAX_FILTER_VALUES: usize = 1024;

/// Why a filter cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The filter names an MSP the token is not bound to.
    #[error("msp `{0}` is outside the token's scope")]
    OutOfScope(String),
    /// The minimum severity is not a known value.
    #[error("unknown min_severity value {0}")]
    Severity(i32),
    /// A list is too long.
    #[error("filter list {0} holds more than {MAX_FILTER_VALUES} values")]
    TooLong(&'static str),
}

/// A filter checked against a scope: every alert it matches is one the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMatcher {
    /// `None`: any MSP and unattributed alerts (a global token without an MSP filter).
    msp_ids: Option<BTreeSet<String>>,
    tenant_ids: BTreeSet<String>,
    min_severity: Option<Severity>,
    rule_ids: BTreeSet<String>,
}

impl AlertMatcher {
    /// Checks a request's filter against the caller's scope.
    ///
    /// An MSP filter outside the scope is refused; no MSP filter means every MSP of the scope.
    pub fn new(
        filter: Option<&pb::AlertFilter>,
        scope: &Scope,
    ) -> Result<AlertMatcher, FilterError> {
        let empty = pb::AlertFilter::default();
        let filter = filter.unwrap_or(&empty);
        bounded("msp_ids", &filter.msp_ids)?;
        bounded("tenant_ids", &filter.tenant_ids)?;
        bounded("rule_ids", &filter.rule_ids)?;

        if let Some(outside) = filter.msp_ids.iter().find(|msp| !scope.allows(Some(msp))) {
            return Err(FilterError::OutOfScope(outside.chars().take(128).collect()));
        }
        let msp_ids = match (filter.msp_ids.is_empty(), scope) {
            (false, _) => Some(filter.msp_ids.iter().cloned().collect()),
            (true, Scope::Global) => None,
            (true, Scope::Msps(msps)) => Some(msps.clone()),
        };
        let min_severity = pb::Severity::try_from(filter.min_severity)
            .map_err(|_| FilterError::Severity(filter.min_severity))?;
        Ok(AlertMatcher {
            msp_ids,
            tenant_ids: filter.tenant_ids.iter().cloned().collect(),
            min_severity: severity_from_proto(min_severity),
            rule_ids: filter.rule_ids.iter().cloned().collect(),
        })
    }

    /// True when the alert passes every part of the filter.
    pub fn matches(&self, alert: &Alert) -> bool {
        let msp_ok = match (&self.msp_ids, &alert.msp_id) {
            (None, _) => true,
            (Some(msps), Some(msp_id)) => msps.contains(msp_id),
            (Some(_), None) => false,
        };
        msp_ok
            && (self.tenant_ids.is_empty()
                || alert.tenants.iter().any(|tenant| self.tenant_ids.contains(tenant)))
            && self.min_severity.is_none_or(|minimum| alert.severity >= minimum)
            && (self.rule_ids.is_empty() || self.rule_ids.contains(&alert.rule_id))
    }
}

fn bounded(name: &'static str, values: &[String]) -> Result<(), FilterError> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(FilterError::TooLong(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::tests::sample_alert;

    fn scope(msps: &[&str]) -> Scope {
        Scope::Msps(msps.iter().map(|msp| (*msp).to_owned()).collect())
    }

    fn filter(
        msps: &[&str],
        tenants: &[&str],
        min: pb::Severity,
        rules: &[&str],
    ) -> pb::AlertFilter {
        let owned = |values: &[&str]| values.iter().map(|value| (*value).to_owned()).collect();
        pb::AlertFilter {
            msp_ids: owned(msps),
            tenant_ids: owned(tenants),
            min_severity: min.into(),
            rule_ids: owned(rules),
        }
    }

    fn matches(
        filter: &pb::AlertFilter,
        scope: &Scope,
        alert: &Alert,
    ) -> Result<bool, FilterError> {
        AlertMatcher::new(Some(filter), scope).map(|matcher| matcher.matches(alert))
    }

    #[test]
    fn each_filter_part_narrows() {
        let alert = sample_alert();
        let any = pb::Severity::Unspecified;
        let global = Scope::Global;
        assert_eq!(matches(&filter(&[], &[], any, &[]), &global, &alert), Ok(true));
        assert_eq!(matches(&filter(&["msp-other"], &[], any, &[]), &global, &alert), Ok(false));
        assert_eq!(matches(&filter(&[], &["tn-globex", "x"], any, &[]), &global, &alert), Ok(true));
        assert_eq!(matches(&filter(&[], &["tn-other"], any, &[]), &global, &alert), Ok(false));
        let critical = pb::Severity::Critical;
        assert_eq!(matches(&filter(&[], &[], critical, &[]), &global, &alert), Ok(true));
        let low = Alert { severity: Severity::Low, ..alert.clone() };
        assert_eq!(matches(&filter(&[], &[], pb::Severity::Medium, &[]), &global, &low), Ok(false));
        assert_eq!(matches(&filter(&[], &[], any, &["other"]), &global, &alert), Ok(false));
    }

    #[test]
    fn scoped_tokens_see_only_their_msps() {
        let alert = sample_alert();
        let any = pb::Severity::Unspecified;
        let other = scope(&["msp-other"]);
        assert_eq!(matches(&filter(&[], &[], any, &[]), &other, &alert), Ok(false));
        assert_eq!(
            matches(&filter(&["msp-northwind"], &[], any, &[]), &other, &alert),
            Err(FilterError::OutOfScope("msp-northwind".to_owned()))
        );
        let own = scope(&["msp-northwind"]);
        assert_eq!(matches(&filter(&[], &[], any, &[]), &own, &alert), Ok(true));
        let unattributed = Alert { msp_id: None, ..alert };
        assert_eq!(matches(&filter(&[], &[], any, &[]), &own, &unattributed), Ok(false));
        assert_eq!(matches(&filter(&[], &[], any, &[]), &Scope::Global, &unattributed), Ok(true));
    }

    #[test]
    fn unknown_severity_and_huge_lists_are_refused() {
        let bad = pb::AlertFilter { min_severity: 9, ..Default::default() };
        assert_eq!(AlertMatcher::new(Some(&bad), &Scope::Global), Err(FilterError::Severity(9)));
        let huge = pb::AlertFilter { rule_ids: vec![String::new(); 2000], ..Default::default() };
        assert_eq!(
            AlertMatcher::new(Some(&huge), &Scope::Global),
            Err(FilterError::TooLong("rule_ids"))
        );
    }
}

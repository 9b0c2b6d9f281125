//! Test-only ways to build a facet's request through Cedar's public API and to ask Cedar's own
//! authorizer, which the fast evaluation path is compared with.

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityUid, Policy, Request, RestrictedExpression,
};
use drydock_core::Principal;

use super::{Attr, Evaluator, Facet, principal_attrs, type_name};
use crate::PolicyError;

impl Evaluator {
    /// Builds `facet`'s request through Cedar's public API with schema validation, to prove
    /// the fast path builds what the schema declares.
    pub fn validate(&self, principal: &Principal, facet: &Facet) -> Result<(), String> {
        self.public_request(principal, facet).map(|_| ())
    }

    /// `facet`'s request and entities built through Cedar's public API, validated against the
    /// schema: what Cedar's own authorizer is given in the tests that compare with it.
    pub fn public_request(
        &self,
        principal: &Principal,
        facet: &Facet,
    ) -> Result<(Request, Entities), String> {
        let public_entity = |kind: &str, id: &str, attrs: &[(&'static str, Attr)]| {
            let type_name = self.public_types.get(kind).ok_or("unknown type")?;
            let uid = EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id));
            let attrs: HashMap<String, RestrictedExpression> = attrs
                .iter()
                .map(|(name, value)| (name.to_string(), value.expression()))
                .collect();
            Entity::new(uid, attrs, HashSet::new()).map_err(|e| e.to_string())
        };
        let principal_entity = public_entity(
            "Agent",
            &format!("{}#{}", principal.repo, principal.branch),
            &principal_attrs(principal),
        )?;
        let resource = public_entity(
            facet.resource_type,
            &facet.resource_id,
            &facet.resource_attrs,
        )?;
        let action = EntityUid::from_type_name_and_id(
            type_name("Action").map_err(|e| e.to_string())?,
            EntityId::new(&facet.action),
        );
        let context = Context::from_pairs(
            facet
                .context
                .iter()
                .map(|(name, value)| (name.to_string(), value.expression())),
        )
        .map_err(|e| e.to_string())?;
        let request = Request::new(
            principal_entity.uid(),
            action,
            resource.uid(),
            context,
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let mut all = vec![principal_entity, resource];
        for (name, items) in &self.list_items {
            all.push(public_entity(
                "List",
                name,
                &[("items", Attr::Set(items.clone()))],
            )?);
        }
        let entities =
            Entities::from_entities(all, Some(&self.schema)).map_err(|e| e.to_string())?;
        Ok((request, entities))
    }

    /// The same schema, actions and lists with other `policies`.
    pub fn with_policies(&self, policies: &[Policy]) -> Result<Evaluator, PolicyError> {
        Evaluator::new(
            self.schema.clone(),
            policies,
            &self.action_names,
            &self.list_items,
        )
    }

    /// The policies as two sets, forbids then permits, for [`Self::reference`].
    pub fn reference_sets(
        &self,
    ) -> Result<(cedar_policy::PolicySet, cedar_policy::PolicySet), String> {
        let mut forbids = cedar_policy::PolicySet::new();
        let mut permits = cedar_policy::PolicySet::new();
        for policy in &self.policies {
            let set = match policy.effect() {
                cedar_policy::Effect::Forbid => &mut forbids,
                cedar_policy::Effect::Permit => &mut permits,
            };
            set.add(policy.clone()).map_err(|e| e.to_string())?;
        }
        Ok((forbids, permits))
    }

    /// What Cedar's own authorizer finds for `facet` over every policy: the satisfied forbids,
    /// the satisfied permits (each sorted) and whether any policy failed to evaluate. Forbids
    /// and permits (`sets`, from [`Self::reference_sets`]) are asked separately, as the
    /// authorizer only names the policies that decided.
    pub fn reference(
        &self,
        principal: &Principal,
        facet: &Facet,
        sets: &(cedar_policy::PolicySet, cedar_policy::PolicySet),
    ) -> Result<(Vec<String>, Vec<String>, bool), String> {
        let (request, entities) = self.public_request(principal, facet)?;
        let authorizer = cedar_policy::Authorizer::new();
        let mut errored = false;
        let mut satisfied = |set: &cedar_policy::PolicySet| {
            let response = authorizer.is_authorized(&request, set, &entities);
            errored |= response.diagnostics().errors().next().is_some();
            let mut ids: Vec<String> = response
                .diagnostics()
                .reason()
                .map(|id| id.to_string())
                .collect();
            ids.sort();
            ids
        };
        let restrictions = satisfied(&sets.0);
        let permissions = satisfied(&sets.1);
        Ok((restrictions, permissions, errored))
    }
}

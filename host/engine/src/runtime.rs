//! A loaded runtime and its four calls. Each call runs in a fresh instance on the
//! engine's threads, within the runtime's slots and budget ([`crate::call`]), and what it
//! returns is bounded before the caller sees it ([`crate::boundary`]).

use std::future::Future;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use runplane_model::{
    FieldError, ObservedObject, PlanError, RunContext, RunPlan, RunStatus, RuntimeInfo,
    RuntimeVersion,
};
use wasmtime::Store;

use crate::bindings::{RuntimeExports, wit};
use crate::boundary;
use crate::cache::CacheOutcome;
use crate::call::{self, CallState, Export, Site};
use crate::engine::PluginEngine;
use crate::error::CallError;
use crate::tier::Tier;

/// A loaded runtime: its description, digest and pre-instantiated component. Each
/// call runs in a fresh instance, so calls never share state.
pub struct LoadedRuntime {
    /// Swapped once, when the runtime moves from baseline to optimized code
    /// ([`crate::tier`]); each call takes the site current when it starts.
    site: Arc<ArcSwap<Site>>,
    version: RuntimeVersion,
    engine: PluginEngine,
    /// Whether the compiled code came from the precompiled cache.
    cache: CacheOutcome,
    /// The component bytes, kept so that the host can store the version.
    component: Arc<[u8]>,
}

impl std::fmt::Debug for LoadedRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRuntime")
            .field("name", &self.name())
            .field("digest", &self.digest())
            .field("origin", &self.origin())
            .finish()
    }
}

impl LoadedRuntime {
    pub(crate) fn new(
        site: Site,
        version: RuntimeVersion,
        engine: PluginEngine,
        cache: CacheOutcome,
        component: Arc<[u8]>,
    ) -> Self {
        LoadedRuntime {
            site: Arc::new(ArcSwap::from_pointee(site)),
            version,
            engine,
            cache,
            component,
        }
    }

    /// The component's bytes (what its digest is the sha256 of).
    pub fn component(&self) -> &[u8] {
        &self.component
    }

    /// [`Self::component`], shared.
    pub(crate) fn component_bytes(&self) -> Arc<[u8]> {
        self.component.clone()
    }

    /// Where the tier-up stores the optimized site; gone with the runtime.
    pub(crate) fn site_cell(&self) -> Weak<ArcSwap<Site>> {
        Arc::downgrade(&self.site)
    }

    /// The most linear memory one of its calls has had, in bytes: how close it runs to
    /// [`Limits::memory`](crate::Limits::memory) (`runplane plugin check` reports it).
    pub fn peak_memory(&self) -> usize {
        self.site
            .load()
            .peak_memory
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Which compiler made the code that new calls run on.
    pub fn tier(&self) -> Tier {
        self.site.load().tier
    }

    /// The runtime's name (from its `info`).
    pub fn name(&self) -> &str {
        &self.version.info.name
    }

    /// This loaded version: what the runtime said about itself, its digest, its origin.
    pub fn version(&self) -> &RuntimeVersion {
        &self.version
    }

    /// What the runtime said about itself at load time.
    pub fn info(&self) -> &RuntimeInfo {
        &self.version.info
    }

    /// `sha256:<hex>` of the component bytes; runs record it.
    pub fn digest(&self) -> &str {
        &self.version.digest
    }

    /// Where the component came from (a path, or "built-in python").
    pub fn origin(&self) -> &str {
        &self.version.origin
    }

    /// Whether loading found the component's compiled code in the precompiled cache
    /// instead of compiling it (the second start of a host should).
    pub fn loaded_from_cache(&self) -> bool {
        self.cache == CacheOutcome::Hit
    }

    /// Runs `export` for `caller`: the project the call is made for, whose calls share
    /// [`Limits::per_caller`](crate::Limits::per_caller) of the runtime's slots.
    async fn call<E: Export>(&self, caller: &str, export: E) -> Result<E::Output, CallError> {
        let (site, caller) = (Site::clone(&self.site.load()), caller.to_string());
        self.engine
            .run(self.name(), async move {
                call::call(site, &caller, export).await
            })
            .await
    }

    /// Calls `info` in a fresh instance (the loaded description is [`Self::info`]).
    pub async fn call_info(&self) -> Result<RuntimeInfo, CallError> {
        Ok(self.call(call::HOST, Info).await?.into())
    }

    /// Calls `validate(kind, spec)` for `project`: `Ok(Err(..))` lists the bad fields,
    /// with paths inside `spec`.
    pub async fn validate(
        &self,
        project: &str,
        kind: &str,
        spec: &str,
    ) -> Result<Result<(), Vec<FieldError>>, CallError> {
        let answer = self
            .call(
                project,
                Validate {
                    kind: kind.to_string(),
                    spec: spec.to_string(),
                },
            )
            .await?;
        Ok(answer
            .map_err(|fields| boundary::field_errors(fields.into_iter().map(Into::into).collect())))
    }

    /// Calls `plan(context)` for the context's project and enforces the output caps.
    pub async fn plan(
        &self,
        context: &RunContext,
    ) -> Result<Result<RunPlan, PlanError>, CallError> {
        match self.call(&context.project, Plan(context.into())).await? {
            Ok(plan) => {
                let plan = RunPlan::from(plan);
                boundary::plan(&plan, &self.engine.limits(), self.name())?;
                Ok(Ok(plan))
            }
            Err(error) => Ok(Err(boundary::plan_error(error.into()))),
        }
    }

    /// Calls `observe(context, objects)` for the context's project; a status whose outputs are over the cap is an
    /// error, its text is bounded.
    pub async fn observe(
        &self,
        context: &RunContext,
        objects: Vec<ObservedObject>,
    ) -> Result<RunStatus, CallError> {
        let objects = objects.into_iter().map(Into::into).collect();
        let status = self
            .call(&context.project, Observe(context.into(), objects))
            .await?;
        boundary::status(status.into(), self.name())
    }
}

/// `info()`.
pub(crate) struct Info;

impl Export for Info {
    type Output = wit::RuntimeInfo;
    const NAME: &'static str = "info";
    fn invoke<'a>(
        self,
        exports: &'a RuntimeExports,
        store: &'a mut Store<CallState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send + 'a {
        exports.call_info(store)
    }
}

/// `validate(kind, spec)`.
struct Validate {
    kind: String,
    spec: String,
}

impl Export for Validate {
    type Output = Result<(), Vec<wit::FieldError>>;
    const NAME: &'static str = "validate";
    async fn invoke<'a>(
        self,
        exports: &'a RuntimeExports,
        store: &'a mut Store<CallState>,
    ) -> wasmtime::Result<Self::Output> {
        exports.call_validate(store, &self.kind, &self.spec).await
    }
}

/// `plan(context)`.
struct Plan(wit::RunContext);

impl Export for Plan {
    type Output = Result<wit::RunPlan, wit::PlanError>;
    const NAME: &'static str = "plan";
    async fn invoke<'a>(
        self,
        exports: &'a RuntimeExports,
        store: &'a mut Store<CallState>,
    ) -> wasmtime::Result<Self::Output> {
        exports.call_plan(store, &self.0).await
    }
}

/// `observe(context, objects)`.
struct Observe(wit::RunContext, Vec<wit::ObservedObject>);

impl Export for Observe {
    type Output = wit::RunStatus;
    const NAME: &'static str = "observe";
    async fn invoke<'a>(
        self,
        exports: &'a RuntimeExports,
        store: &'a mut Store<CallState>,
    ) -> wasmtime::Result<Self::Output> {
        exports.call_observe(store, &self.0, &self.1).await
    }
}

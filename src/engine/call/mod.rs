//! One call, pumped by one tokio task: route it, answer its leg, then run the sans-IO
//! [`driver::CallDriver`] against the leg, the side-request tasks, the clock and the drain.
//!
//! The pump is the only part that awaits (quinn's `ConnectionDriver` shape, like
//! [`crate::engine::endpoint_loop`]): one `select!` over the leg's next event, the next finished
//! side request, the driver's timer and the drain signal; after every input it drains the
//! driver's outputs into [`Leg::command`], [`Tasks`] and the live-call table. Attaching an
//! integration's [`AudioPort`] to the leg happens here, when a request that needs audio starts.
//!
//! Not owned here: the flow's rules ([`driver`]), SIP/RTP ([`crate::engine::leg::sip`]), how a
//! side request runs ([`crate::engine::integrations`]).

pub mod deps;
pub mod driver;
pub mod register_hook;
pub mod route;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use deps::CallDeps;
use driver::{CallDriver, DriverInput, DriverOutput};

use super::audio_port::{self, AudioPort, PortConfig};
use super::integrations::tasks::{TaskEvent, Tasks};
use super::leg::{Leg, LegCmd, LegEnd, LegInfo, Reject};
use super::pii::caller;
use super::rt::sleep_opt;
use super::status::CallView;
use crate::flow::program::Program;
use crate::machine::io::CallInfo;
use crate::register::CallRecorder;
use register_hook::RegisterHook;

/// Runs one call to its end.
pub async fn run(deps: Arc<CallDeps>, mut leg: Leg) {
    let info = leg.info().clone();
    let call = info.id.as_str();
    let dialled = info.dialled.as_deref().unwrap_or("");
    let direction = crate::db::calls::Direction::Inbound;
    let mut rec = CallRecorder::start(
        &deps.register,
        direction,
        &info.from,
        &info.to,
        Instant::now(),
    );
    let named = info.flow.as_deref().and_then(|f| deps.router.named(f));
    let Some(program) = named.or_else(|| deps.router.route(dialled, info.source)) else {
        tracing::warn!(%call, to = %dialled, "no flow for this number and no default flow");
        leg.reject(Reject::NoRoute);
        rec.end(Instant::now(), "rejected:no_route", Some(404));
        return;
    };
    rec.set_flow(&program.name, program.short_hash());
    if let Some(a) = deps.router.accounts.iter().find(|a| a.username == dialled) {
        rec.set_account(&a.username);
    }
    tracing::info!(
        %call, from = %caller(&info.from, deps.redact_numbers), to = %dialled, flow = %program.name,
        version = %program.short_hash(), "incoming call"
    );
    let mut driver = CallDriver::new(
        program.clone(),
        call_info(&info, &program, &deps.site.env),
        deps.transfer.clone(),
    )
    .redact_numbers(deps.redact_numbers);
    let mut tasks = Tasks::new(info.id.clone());
    // A flow that starts with (or right before) a voice agent: connect it while the call is
    // answered. Dropped with `tasks` if the call is not answered.
    driver.prepare_at_start();
    while let Some(out) = driver.poll_output() {
        if let DriverOutput::Prepare(req) = out {
            tasks.prepare(&req, &deps.services, leg.audio_format());
        }
    }
    if let Err(why) = leg.answer().await {
        tracing::info!(%call, reason = %why, "not answered");
        let facts = leg.facts();
        if let Some(at) = facts.ringing_at {
            rec.ringing(at);
        }
        let reason = match why {
            LegEnd::Remote => "cancelled",
            _ => "rejected",
        };
        rec.end(Instant::now(), reason, facts.final_status);
        return;
    }
    run_flow(deps, leg, program, driver, tasks, rec, None).await;
}

/// Runs the flow on a call whose leg is answered (an outbound call once
/// [`crate::engine::leg::sip::SipLeg::connect`] returned): the same pump as for an incoming
/// call, with the job's facts in `info` (`direction`, `vars`) and its `ack` marks sent to
/// `marks` as they happen.
pub async fn run_answered(
    deps: Arc<CallDeps>,
    leg: Leg,
    program: Arc<Program>,
    info: CallInfo,
    rec: CallRecorder,
    marks: tokio::sync::mpsc::UnboundedSender<crate::flow::program::Mark>,
) {
    let driver = CallDriver::new(program.clone(), info, deps.transfer.clone())
        .redact_numbers(deps.redact_numbers);
    let tasks = Tasks::new(leg.info().id.clone());
    run_flow(deps, leg, program, driver, tasks, rec, Some(marks)).await;
}

async fn run_flow(
    deps: Arc<CallDeps>,
    leg: Leg,
    program: Arc<Program>,
    driver: CallDriver,
    tasks: Tasks,
    rec: CallRecorder,
    marks: Option<tokio::sync::mpsc::UnboundedSender<crate::flow::program::Mark>>,
) {
    let info = leg.info().clone();
    let call = info.id.as_str();
    deps.calls.insert(CallView {
        id: info.id.clone(),
        flow: program.name.clone(),
        version: program.short_hash().to_string(),
        node: String::new(),
        theme: String::new(),
        since: SystemTime::now(),
    });
    let mut pump = Pump {
        driver,
        leg,
        tasks,
        hook: RegisterHook::new(rec, start_theme(&program)),
        deps: deps.clone(),
        id: info.id.clone(),
        marks,
    };
    pump.run().await;
    tracing::debug!(%call, "call ended");
    deps.calls.remove(&info.id);
    let Pump { hook, driver, .. } = pump;
    hook.finish(driver.vars(), Instant::now());
}

/// The theme a call of `program` starts in ("" for a flow without themes).
fn start_theme(program: &Program) -> &str {
    let themes = &program.themes;
    themes
        .names
        .get(themes.start.0 as usize)
        .map_or("", String::as_str)
}

/// The machine's view of the call: the leg's facts plus the flow's allow-listed environment
/// (the process environment and `.env`, then the flow's defaults).
fn call_info(
    info: &LegInfo,
    program: &Program,
    env: &crate::config::environment::Environment,
) -> CallInfo {
    let env = program.env_values(|k| env.get(k));
    CallInfo {
        id: info.id.clone(),
        from: info.from.clone(),
        to: info.to.clone(),
        env,
        params: info.params.clone(),
        ..CallInfo::default()
    }
}

struct Pump {
    driver: CallDriver,
    leg: Leg,
    /// The call's register record.
    hook: RegisterHook,
    tasks: Tasks,
    deps: Arc<CallDeps>,
    id: String,
    /// Where `ack` marks go (an outbound call's job); `None` for inbound calls.
    marks: Option<tokio::sync::mpsc::UnboundedSender<crate::flow::program::Mark>>,
}

impl Pump {
    async fn run(&mut self) {
        let mut hangup_all = self.deps.hangup_all.clone();
        loop {
            self.drain_outputs();
            if self.driver.is_ended() {
                return;
            }
            let input = tokio::select! {
                ev = self.leg.next_event() => DriverInput::Leg(ev),
                ev = self.tasks.next() => match ev {
                    TaskEvent::Done(done, had_audio) => {
                        if had_audio {
                            self.leg.command(LegCmd::DetachAudio { id: done.id() });
                        }
                        DriverInput::Done(done)
                    }
                    TaskEvent::Ask(id, ask) => DriverInput::Ask(id, ask),
                },
                () = sleep_opt(self.driver.poll_timeout()) => DriverInput::Timeout,
                Ok(()) = hangup_all.changed() => {
                    if !*hangup_all.borrow() {
                        continue;
                    }
                    DriverInput::Drain
                }
            };
            self.feed(input, Instant::now());
        }
    }

    /// One input for the driver, shown to the register first; then the register gets the
    /// events of the call's story that input produced (the driver's call log).
    fn feed(&mut self, input: DriverInput, now: Instant) {
        self.hook.input(&input, &self.leg, now);
        self.driver.handle(input, now);
        while let Some(e) = self.driver.poll_event() {
            self.hook.traced(&e.kind, now);
        }
    }

    /// Executes every output the driver has (a batch at a time, shown to the register first).
    fn drain_outputs(&mut self) {
        loop {
            let outs: Vec<DriverOutput> =
                std::iter::from_fn(|| self.driver.poll_output()).collect();
            if outs.is_empty() {
                return;
            }
            self.hook.outputs(&outs);
            for out in outs {
                self.execute(out);
            }
        }
    }

    fn execute(&mut self, out: DriverOutput) {
        {
            match out {
                DriverOutput::Leg(cmd) => self.leg.command(cmd),
                DriverOutput::Start(req) => {
                    let id = req.id();
                    let wants_audio = req.needs_audio() || self.deps.services.streams(&req);
                    let audio = wants_audio.then(|| self.attach(id));
                    let attached = audio.is_some();
                    if let Err(done) = self.tasks.start(req, &self.deps.services, audio) {
                        if attached {
                            self.leg.command(LegCmd::DetachAudio { id });
                        }
                        self.feed(DriverInput::Done(done), Instant::now());
                    }
                }
                DriverOutput::Cancel(id) => {
                    if self.tasks.cancel(id) == Some(true) {
                        self.leg.command(LegCmd::DetachAudio { id });
                    }
                }
                DriverOutput::Control(id, c) => self.tasks.control(id, c),
                DriverOutput::Prepare(req) => {
                    self.tasks
                        .prepare(&req, &self.deps.services, self.leg.audio_format());
                }
                DriverOutput::View { node, theme } => {
                    self.deps.calls.update(&self.id, &node, &theme);
                }
                DriverOutput::Mark(mark) => {
                    if let Some(tx) = &self.marks {
                        let _ = tx.send(mark);
                    }
                }
            }
        }
    }

    /// A port for request `id`, its tap handed to the leg.
    fn attach(&mut self, id: crate::machine::io::RequestId) -> AudioPort {
        let (port, tap) = audio_port::pair(self.leg.audio_format(), PortConfig::default());
        self.leg.command(LegCmd::AttachAudio { id, tap });
        port
    }
}

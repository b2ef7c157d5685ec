//! The bot turn, for every channel: when a customer writes in a conversation the bot holds, the
//! responder answers (its pieces streamed on the bus as `AnswerDelta`s under the answer's
//! pre-allocated id), the answer is stored as an `ai` message (the outbox delivers it on
//! channels that need a call), or, when the responder declines, fails or times out, a polite
//! system message is stored and the conversation goes to a person.
//!
//! Turns run off the request path, a task each (at most `bot_workers` responding at once), fed
//! by a bounded queue of conversations, so that acknowledging a message never waits for an
//! answer. A conversation is queued at most once and answered by one worker at a time: messages
//! that arrive while it is being answered are answered next, in one turn.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use switchboard_model::{
    AiOutcome, BusEvent, Conversation, ConversationStatus, Deltas, HandoffReason, Message,
    MessageRole, Question, Responder, ResponderError, Response, new_id,
};
use switchboard_store::{CustomerScore, NewMessage, Store};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{bus::EventBus, routing::RoutingContext};

/// What a visitor reads when the bot does not answer.
pub const HANDOVER_TEXT: &str =
    "Thanks for your message. I've passed it to our team, and a person will reply here shortly.";
/// Earlier messages given to the responder.
const HISTORY: u64 = 20;

/// The responder of a hub without an AI: it never pretends to answer. Every question is
/// declined, so the customer gets the acknowledgement and a person takes over.
pub struct AcknowledgeOnly;

#[async_trait::async_trait]
impl Responder for AcknowledgeOnly {
    async fn respond(
        &self,
        _question: &Question,
        _deltas: &dyn Deltas,
    ) -> Result<Response, ResponderError> {
        Ok(Response::Declined {
            reason: "no AI responder is configured on this hub".into(),
            confidence: None,
        })
    }
}

/// One conversation waiting for a turn: answer its customer messages up to `seq`.
#[derive(Clone, Debug)]
struct Job {
    org_id: String,
    inbox_id: String,
    conversation_id: String,
    seq: i64,
    /// When its first unanswered message was queued: the wait until its turn starts, and what
    /// the model's first-piece bound runs from (`Question::received_at`).
    queued_at: std::time::Instant,
    /// When the first message merged into the job while its turn ran was queued: the next
    /// turn's `queued_at`.
    next_at: Option<std::time::Instant>,
}

#[derive(Default)]
struct Queued {
    waiting: VecDeque<String>,
    /// The job of each waiting or running conversation.
    jobs: HashMap<String, Job>,
    running: HashSet<String>,
}

impl Queued {
    /// Folds `job` into the conversation's waiting or running turn, if it has one. A message
    /// folded into a running turn is answered by the next one, whose wait starts with it.
    fn fold(&mut self, job: &Job) -> bool {
        let running = self.running.contains(&job.conversation_id);
        let Some(existing) = self.jobs.get_mut(&job.conversation_id) else {
            return false;
        };
        if running && job.seq > existing.seq {
            existing.next_at.get_or_insert(job.queued_at);
        }
        existing.seq = existing.seq.max(job.seq);
        true
    }
}

/// Conversations waiting for a bot turn: bounded, one entry per conversation.
pub struct BotQueue {
    queued: Mutex<Queued>,
    /// One permit per free place in the queue.
    room: Semaphore,
    work: Notify,
}

impl BotQueue {
    pub fn new(capacity: usize) -> BotQueue {
        BotQueue {
            queued: Mutex::new(Queued::default()),
            room: Semaphore::new(capacity.max(1)),
            work: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a turn for the conversation, or widens the one it already has. Waits for room when
    /// the queue is full: that slows the channels down rather than growing memory.
    async fn enqueue(&self, job: Job) {
        if self.merge(&job) {
            return;
        }
        let Ok(permit) = self.room.acquire().await else {
            return;
        };
        let mut queued = self.lock();
        if queued.fold(&job) {
            // Queued by someone else while this waited for room.
            return;
        }
        permit.forget();
        queued.waiting.push_back(job.conversation_id.clone());
        queued.jobs.insert(job.conversation_id.clone(), job);
        drop(queued);
        self.work.notify_one();
    }

    /// Folds `job` into the conversation's waiting or running turn, if it has one.
    fn merge(&self, job: &Job) -> bool {
        self.lock().fold(job)
    }

    fn take(&self) -> Option<Job> {
        let mut queued = self.lock();
        let conversation_id = queued.waiting.pop_front()?;
        self.room.add_permits(1);
        queued.running.insert(conversation_id.clone());
        let job = queued.jobs.get(&conversation_id).cloned();
        if let Some(job) = &job {
            let waited = job.queued_at.elapsed();
            metrics::histogram!("switchboard_bot_queue_wait_seconds").record(waited.as_secs_f64());
            crate::background::turn_waited(waited);
        }
        job
    }

    /// After a turn that answered up to `answered`: the job to run next for the same
    /// conversation when more arrived meanwhile, else `None` (and the conversation is free).
    fn finish(&self, conversation_id: &str, answered: i64) -> Option<Job> {
        let mut queued = self.lock();
        match queued.jobs.get_mut(conversation_id) {
            Some(job) if job.seq > answered => {
                if let Some(next_at) = job.next_at.take() {
                    job.queued_at = next_at;
                }
                Some(job.clone())
            }
            _ => {
                queued.jobs.remove(conversation_id);
                queued.running.remove(conversation_id);
                None
            }
        }
    }

    /// Conversations waiting or being answered.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// After a customer message is stored: queue a bot turn when the bot holds the
    /// conversation.
    pub async fn after_customer_message(&self, conversation: &Conversation, seq: i64) {
        if conversation.status != ConversationStatus::Bot {
            return;
        }
        self.enqueue(Job {
            org_id: conversation.org_id.clone(),
            inbox_id: conversation.inbox_id.clone(),
            conversation_id: conversation.id.clone(),
            seq,
            queued_at: std::time::Instant::now(),
            next_at: None,
        })
        .await;
    }
}

/// What the bot's workers use. `AppState::bot_context` makes one; the bot never sees the whole
/// state.
#[derive(Clone)]
pub struct BotContext {
    /// The conversations waiting for a turn.
    pub queue: Arc<BotQueue>,
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub responder: Arc<dyn Responder>,
    /// Woken when an answer goes out through the outbox.
    pub delivery_wakeup: Arc<Notify>,
    /// Escalates the conversations the bot does not answer.
    pub routing: RoutingContext,
    /// Turns at once (`bot_workers`).
    pub workers: usize,
    /// How long the responder has for one turn (`bot_timeout_secs`).
    pub timeout: Duration,
}

/// Starts a task for each queued turn, at most `bot_workers` at once, until `shutdown`; turns in
/// flight finish first. A turn mostly waits (on the database, on a model's stream), so the
/// turns running follow the load up to that bound; what bounds the calls to a model is its
/// provider's limit (`llm_max_in_flight`), not a count of workers.
pub async fn run(bot: BotContext, shutdown: CancellationToken) {
    let places = Arc::new(Semaphore::new(bot.workers.max(1)));
    let turns = tokio_util::task::TaskTracker::new();
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place,
            _ = shutdown.cancelled() => break,
        };
        let Ok(place) = place else { break };
        let job = loop {
            if let Some(job) = bot.queue.take() {
                break Some(job);
            }
            tokio::select! {
                _ = bot.queue.work.notified() => {}
                _ = shutdown.cancelled() => break None,
            }
        };
        let Some(mut job) = job else { break };
        let bot = bot.clone();
        let places = places.clone();
        turns.spawn(async move {
            let mut place = Some(place);
            loop {
                if place.is_none() {
                    let Ok(again) = places.clone().acquire_owned().await else {
                        break;
                    };
                    place = Some(again);
                }
                let started = std::time::Instant::now();
                let answered = turn(&bot, &job, &mut place).await;
                metrics::histogram!("switchboard_bot_turn_total_seconds")
                    .record(started.elapsed().as_secs_f64());
                match bot.queue.finish(&job.conversation_id, answered) {
                    Some(next) => job = next,
                    None => break,
                }
            }
        });
    }
    turns.close();
    turns.wait().await;
}

/// Pieces of an answer that arrive within this long of the last one sent go out together: a
/// model streams a word every 20 ms or so, and each event is a frame on every socket that shows
/// the conversation (and a message on Redis), whatever its size. Ten updates a second still
/// read as typing; at 50 ms the frames of 700 answers a second were a tenth of the hub's CPU.
const DELTA_EVERY: Duration = Duration::from_millis(100);

/// Streams an answer's pieces to the bus under its message id: the first at once, then at most
/// one event every [`DELTA_EVERY`]; [`BusDeltas::flush`] sends what is left.
struct BusDeltas<'a> {
    bus: &'a dyn EventBus,
    job: &'a Job,
    message_id: &'a str,
    /// Text not sent yet, and when the last event went out.
    held: Mutex<(String, Option<std::time::Instant>)>,
    /// The model's reading of the customer's mood, when it gave one (`u16::MAX`: none).
    sentiment: std::sync::atomic::AtomicU16,
}

impl<'a> BusDeltas<'a> {
    fn new(bus: &'a dyn EventBus, job: &'a Job, message_id: &'a str) -> BusDeltas<'a> {
        BusDeltas {
            bus,
            job,
            message_id,
            held: Mutex::new((String::new(), None)),
            sentiment: std::sync::atomic::AtomicU16::new(u16::MAX),
        }
    }

    /// The model's score of the customer's message, if it gave one with its answer.
    fn sentiment(&self) -> Option<u8> {
        u8::try_from(self.sentiment.load(std::sync::atomic::Ordering::Relaxed)).ok()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, (String, Option<std::time::Instant>)> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends the text held back, if any.
    fn flush(&self) {
        let text = std::mem::take(&mut self.held().0);
        self.publish(text);
    }

    fn publish(&self, text: String) {
        if text.is_empty() {
            return;
        }
        self.bus.publish(BusEvent::AnswerDelta {
            org_id: self.job.org_id.clone(),
            inbox_id: self.job.inbox_id.clone(),
            conversation_id: self.job.conversation_id.clone(),
            message_id: self.message_id.to_owned(),
            text,
        });
    }
}

impl Deltas for BusDeltas<'_> {
    fn push(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut held = self.held();
        held.0.push_str(text);
        if held.1.is_some_and(|last| last.elapsed() < DELTA_EVERY) {
            return;
        }
        held.1 = Some(std::time::Instant::now());
        let text = std::mem::take(&mut held.0);
        drop(held);
        self.publish(text);
    }

    fn sentiment(&self, score: u8) {
        self.sentiment
            .store(u16::from(score), std::sync::atomic::Ordering::Relaxed);
    }
}

/// One bot turn. Returns the `seq` it answered up to (the job's, when there was nothing to do).
#[tracing::instrument(skip_all, fields(conversation_id = %job.conversation_id))]
async fn turn(bot: &BotContext, job: &Job, place: &mut Option<OwnedSemaphorePermit>) -> i64 {
    match try_turn(bot, job, place).await {
        Ok(answered) => answered,
        Err(err) => {
            // The customer's message is stored; an agent sees it in the queue.
            tracing::error!(error = %err, "bot turn failed");
            job.seq
        }
    }
}

/// `place` is the turn's place among `bot_workers`, given up once the responder is done: what is
/// left, storing the answer, waits for the answer writer, and a turn waiting there must not keep
/// another conversation from its answer (on PostgreSQL at 1,000 messages a second with a model,
/// turns waited seconds for a place while most places waited on the writer).
async fn try_turn(
    bot: &BotContext,
    job: &Job,
    place: &mut Option<OwnedSemaphorePermit>,
) -> Result<i64, switchboard_store::StoreError> {
    let store = &bot.store;
    let reading = std::time::Instant::now();
    let turn = {
        let (store, job) = (store.clone(), job.clone());
        crate::background::read(async move {
            store
                .bot_turn(&job.org_id, &job.conversation_id, &job.inbox_id, HISTORY)
                .await
        })
        .await?
    };
    metrics::histogram!("switchboard_bot_turn_read_seconds")
        .record(reading.elapsed().as_secs_f64());
    let mut history = turn.history;
    // Answer the newest customer message, unless someone already answered after it (or a
    // person holds the conversation now, and there is nothing).
    let Some(latest) = history.pop_if(|last| last.role == MessageRole::Customer) else {
        return Ok(job.seq);
    };
    let answered = latest.seq.max(job.seq);
    // Customer messages before the newest that no answer followed: this turn answers them
    // too, and ingest left their scoring to it.
    let earlier: Vec<Message> = history
        .iter()
        .rev()
        .take_while(|message| message.role == MessageRole::Customer)
        .cloned()
        .collect();
    let question = Question {
        org_id: job.org_id.clone(),
        inbox_id: job.inbox_id.clone(),
        conversation_id: job.conversation_id.clone(),
        text: latest.text.clone(),
        history,
        // The inbox's own threshold (`ai_min_confidence`).
        min_confidence: crate::ai::min_confidence_in(&turn.inbox_config),
        knowledge_stamp: Some(crate::ai::knowledge_stamp(turn.kb_revision)),
        received_at: Some(job.queued_at),
    };
    let message_id = new_id();
    let deltas = BusDeltas::new(bot.bus.as_ref(), job, &message_id);
    let timeout = bot.timeout;
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(timeout, bot.responder.respond(&question, &deltas))
        .await
        .unwrap_or(Err(ResponderError::Timeout(timeout)));
    deltas.flush();
    drop(place.take());
    metrics::histogram!("switchboard_bot_turn_seconds").record(started.elapsed().as_secs_f64());
    let mood = Mood {
        told: deltas.sentiment(),
        latest: &latest,
        earlier,
    };
    let answer = match response {
        Ok(Response::Answered(answer)) => answer,
        Ok(Response::Declined { reason, .. }) => {
            metrics::counter!("switchboard_bot_turns_total", "outcome" => "declined").increment(1);
            tracing::info!(%reason, "the responder declined");
            hand_over(bot, job, HandoffReason::LowConfidence, mood).await?;
            return Ok(answered);
        }
        Err(err) => {
            metrics::counter!("switchboard_bot_turns_total", "outcome" => "failed").increment(1);
            tracing::warn!(error = %err, "the responder failed");
            hand_over(bot, job, HandoffReason::AiFailure, mood).await?;
            return Ok(answered);
        }
    };
    metrics::counter!("switchboard_bot_turns_total", "outcome" => "answered").increment(1);
    // Answered offline though a model is configured: it was busy or slow, or the hub was
    // behind. Asking it for the customer's mood on its own now would add to what is not
    // keeping up: routing keeps the offline score, the best within the bound.
    let model_passed_over = answer.model.is_none();
    let new = NewMessage {
        role: MessageRole::Ai,
        private: false,
        text: answer.text,
        author_id: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
        sources: answer.sources,
        confidence: answer.confidence,
        model: answer.model,
        tokens: answer.tokens,
    };
    let storing = std::time::Instant::now();
    let (conversation, message) = store
        .append_bot_answer(
            &job.org_id,
            &job.conversation_id,
            &message_id,
            new,
            AiOutcome::Answered,
            mood.score(),
        )
        .await?;
    metrics::histogram!("switchboard_bot_answer_store_seconds")
        .record(storing.elapsed().as_secs_f64());
    bot.bus.publish(BusEvent::MessageCreated {
        org_id: job.org_id.clone(),
        inbox_id: conversation.inbox_id.clone(),
        message: Box::new(message),
    });
    if !conversation.channel.delivered_by_hub() {
        bot.delivery_wakeup.notify_one();
    }
    mood.reroute(bot, &conversation).await;
    if !model_passed_over {
        mood.ask_for_the_rest(bot, conversation);
    }
    Ok(answered)
}

/// The customer's mood in the messages a turn answers. The model that answered may have told
/// it ([`Deltas::sentiment`]), reading the newest with the ones before it in its prompt: that
/// score is stored for all of them with the bot's message. Otherwise (a cached or offline
/// answer, or none) the model is asked for each on its own, after the answer.
struct Mood<'a> {
    told: Option<u8>,
    latest: &'a Message,
    earlier: Vec<Message>,
}

impl Mood<'_> {
    /// What to store with the bot's message.
    fn score(&self) -> Option<CustomerScore> {
        self.told.map(|score| CustomerScore {
            message_ids: std::iter::once(self.latest)
                .chain(&self.earlier)
                .map(|message| message.id.clone())
                .collect(),
            score,
        })
    }

    /// After the answer is stored (with [`Mood::score`]): the rules again when the model's
    /// score is below the newest message's offline one (see [`crate::routing::may_fire_on`]).
    /// `conversation` is as the answer left it.
    async fn reroute(&self, bot: &BotContext, conversation: &Conversation) {
        if let Some(score) = self.told
            && crate::routing::may_fire_on(self.latest.sentiment, Some(i32::from(score)))
        {
            let mut latest = self.latest.clone();
            latest.sentiment = Some(i32::from(score));
            crate::routing::route_or_log(&bot.routing, conversation, &latest).await;
        }
    }

    /// Asks the model, in the background, for the scores it did not give with its answer.
    fn ask_for_the_rest(self, bot: &BotContext, conversation: Conversation) {
        if self.told.is_some() || bot.routing.llm.is_none() {
            return;
        }
        let mut unscored = self.earlier;
        unscored.push(self.latest.clone());
        let routing = bot.routing.clone();
        tokio::spawn(async move {
            for message in unscored {
                crate::understanding::rescore_and_route(&routing, &conversation, &message).await;
            }
        });
    }
}

/// The bot will not answer: tell the customer so and put the conversation in the human queue.
async fn hand_over(
    bot: &BotContext,
    job: &Job,
    why: HandoffReason,
    mood: Mood<'_>,
) -> Result<(), switchboard_store::StoreError> {
    let new = NewMessage {
        role: MessageRole::System,
        private: false,
        text: HANDOVER_TEXT.to_owned(),
        author_id: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
        sources: Vec::new(),
        confidence: None,
        model: None,
        tokens: None,
    };
    // The model's reading of the customer goes in before the handoff that quotes it.
    let (conversation, message) = bot
        .store
        .append_bot_answer(
            &job.org_id,
            &job.conversation_id,
            &new_id(),
            new,
            AiOutcome::Declined,
            mood.score(),
        )
        .await?;
    bot.bus.publish(BusEvent::MessageCreated {
        org_id: job.org_id.clone(),
        inbox_id: job.inbox_id.clone(),
        message: Box::new(message),
    });
    // Routing escalates it with a handoff, an SLA clock and an assignment, and publishes it.
    crate::routing::on_ai_declined(&bot.routing, &job.org_id, &job.conversation_id, why).await?;
    mood.ask_for_the_rest(bot, conversation);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(conversation_id: &str, seq: i64) -> Job {
        Job {
            org_id: "o".into(),
            inbox_id: "i".into(),
            conversation_id: conversation_id.into(),
            seq,
            queued_at: std::time::Instant::now(),
            next_at: None,
        }
    }

    #[tokio::test]
    async fn a_conversation_is_queued_once_and_answered_again_when_more_arrived() {
        let queue = BotQueue::new(8);
        queue.enqueue(job("a", 1)).await;
        queue.enqueue(job("a", 2)).await;
        queue.enqueue(job("b", 1)).await;
        assert_eq!(queue.len(), 2);
        let first = queue.take().expect("a job");
        assert_eq!((first.conversation_id.as_str(), first.seq), ("a", 2));
        // A message arrives while `a` is answered: it is folded in, not queued twice.
        queue.enqueue(job("a", 3)).await;
        let second = queue.take().expect("b");
        assert_eq!(second.conversation_id, "b");
        assert!(queue.take().is_none());
        let again = queue.finish("a", 2).expect("a again");
        assert_eq!(again.seq, 3);
        assert!(queue.finish("a", 3).is_none());
        assert!(queue.finish("b", 1).is_none());
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_turn_waits_from_its_first_unanswered_message() {
        let queue = BotQueue::new(8);
        let first = job("a", 1);
        let asked = first.queued_at;
        queue.enqueue(first).await;
        // Folded into the waiting turn: that turn still answers a customer waiting since 1.
        queue.enqueue(job("a", 2)).await;
        let turn = queue.take().expect("a");
        assert_eq!((turn.seq, turn.queued_at), (2, asked));
        // Arrived while the turn ran: the next turn's wait starts with this message.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let third = job("a", 3);
        let later = third.queued_at;
        queue.enqueue(third).await;
        queue.enqueue(job("a", 4)).await;
        let next = queue.finish("a", 2).expect("a again");
        assert_eq!((next.seq, next.queued_at), (4, later));
        assert!(later > asked);
    }

    #[tokio::test]
    async fn a_full_queue_makes_producers_wait() {
        let queue = std::sync::Arc::new(BotQueue::new(1));
        queue.enqueue(job("a", 1)).await;
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.enqueue(job("b", 1)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no room: the producer waits");
        assert_eq!(queue.take().expect("a").conversation_id, "a");
        tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("room again")
            .expect("joins");
        assert_eq!(queue.take().expect("b").conversation_id, "b");
    }
}

//===- scheduler.h - Requests of one checkpoint in one batch ----*- C++ -*-===//
//
// One Scheduler per checkpoint in memory: its thread owns a
// GenerationBatch on the checkpoint's engine. Requests under any policy
// compiled for that checkpoint (or none) join the batch between steps, up
// to --max-batch at once; each step runs the backbone rows of all of them
// in one batched forward, and each request keeps its own step schedule,
// sampler and steering, so its tokens are those steer-run generate gives
// it alone. Requests beyond the batch wait in a bounded queue (submit()
// refuses when it is full: the server answers 429). A cancelled request
// (its client left) or one past its deadline leaves the batch at the next
// step and frees its slot.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "metrics.h"
#include "steer/exec/generate.h"
#include "steer/exec/program.h"
#include "steer/session/session.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace steer::serve {

using Clock = std::chrono::steady_clock;

/// One generation request as the scheduler runs it, shared with the HTTP
/// thread that waits for it.
struct Job {
  std::string modelName; // for metrics
  const Session *session = nullptr; // the policy it runs under
  std::vector<int64_t> prompt;
  GenerateRequest request; // sampling, stops; the scheduler adds the rest
  Clock::time_point enqueued, deadline;
  /// Set by the HTTP thread when its client has gone; the job then leaves
  /// the batch at the next step.
  std::atomic<bool> cancelled{false};

  // Progress, guarded by mu; cv is notified on every change.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> region; // generated positions so far (masks: open)
  uint64_t version = 0;        // bumped with every step
  bool done = false;
  Status error;                // when done: why it failed
  bool timedOut = false;
  GenerationResult result;     // when done without error
  AppliedPolicy policy;        // what the program did (read after done)
  double queueSeconds = 0;     // waiting before its prefill
};

struct SchedulerOptions {
  size_t maxBatch = 8;  // requests in one batch
  size_t maxQueue = 64; // requests waiting beyond the batch
};

class Scheduler {
public:
  Scheduler(const Engine &engine, SchedulerOptions options, Metrics &metrics);
  ~Scheduler();
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  /// Queues a job; false when the queue is full.
  bool submit(std::shared_ptr<Job> job);
  /// The client of `job` has gone: a queued job leaves the queue now (its
  /// place is free for the next request), a running one at the next step.
  void cancel(const std::shared_ptr<Job> &job);
  size_t queued() const;
  size_t running() const;
  /// Waits until every queued and running job has ended, then stops the
  /// thread (new submissions are the server's to refuse first).
  void drain();

private:
  void loop();
  void finish(Job &job, StatusOr<GenerationResult> result, bool timedOut);

  const Engine &engine_;
  SchedulerOptions options_;
  Metrics &metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::atomic<size_t> running_{0};
  bool stop_ = false;
  std::thread thread_;
};

} // namespace steer::serve

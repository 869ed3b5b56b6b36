//===- scheduler.cpp - Requests of one checkpoint in one batch ------------===//
#include "scheduler.h"

#include <algorithm>
#include <unordered_map>

namespace steer::serve {

Scheduler::Scheduler(const Engine &engine, SchedulerOptions options,
                     Metrics &metrics)
    : engine_(engine), options_(options), metrics_(metrics),
      thread_([this] { loop(); }) {}

Scheduler::~Scheduler() { drain(); }

bool Scheduler::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= options_.maxQueue)
      return false;
    job->enqueued = Clock::now();
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void Scheduler::cancel(const std::shared_ptr<Job> &job) {
  job->cancelled = true;
  bool dequeued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) {
      queue_.erase(it);
      dequeued = true;
    }
  }
  if (dequeued)
    finish(*job, makeError(StatusCode::kUnavailable, "cancelled"), false);
}

size_t Scheduler::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t Scheduler::running() const { return running_.load(); }

void Scheduler::drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

void Scheduler::finish(Job &job, StatusOr<GenerationResult> result,
                       bool timedOut) {
  std::lock_guard<std::mutex> lock(job.mu);
  if (result.ok())
    job.result = std::move(*result);
  else
    job.error = result.status();
  job.timedOut = timedOut;
  job.done = true;
  ++job.version;
  job.cv.notify_all();
}

void Scheduler::loop() {
  GenerationBatch batch(engine_);
  std::unordered_map<uint64_t, std::shared_ptr<Job>> running;
  uint64_t nextId = 0;
  auto timeoutError = [](const Job &job) {
    return makeError(StatusCode::kUnavailable,
                     "the request did not finish within the server's "
                     "--request-timeout (",
                     std::chrono::duration<double>(job.deadline - job.enqueued)
                         .count(),
                     " s)");
  };
  while (true) {
    std::vector<std::shared_ptr<Job>> admitted;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !queue_.empty() || !running.empty();
      });
      if (stop_ && queue_.empty() && running.empty())
        return;
      while (running.size() + admitted.size() < options_.maxBatch &&
             !queue_.empty()) {
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const Clock::time_point now = Clock::now();
    for (std::shared_ptr<Job> &job : admitted) {
      if (job->cancelled) {
        finish(*job, makeError(StatusCode::kUnavailable, "cancelled"), false);
        continue;
      }
      if (now >= job->deadline) {
        finish(*job, timeoutError(*job), true);
        continue;
      }
      job->queueSeconds =
          std::chrono::duration<double>(now - job->enqueued).count();
      GenerateRequest request = job->request;
      Job *raw = job.get();
      const int64_t P = static_cast<int64_t>(job->prompt.size());
      {
        std::lock_guard<std::mutex> lock(raw->mu);
        raw->region.assign(request.sampling.maxNewTokens,
                           engine_.config().maskTokenId);
      }
      request.callback = [raw, P](const StepInfo &info) {
        std::lock_guard<std::mutex> lock(raw->mu);
        for (size_t i = 0; i < info.positions.size(); ++i) {
          const int64_t at = info.positions[i] - P;
          if (at >= 0 && at < static_cast<int64_t>(raw->region.size()))
            raw->region[at] = info.tokens[i];
        }
        ++raw->version;
        raw->cv.notify_all();
        return true;
      };
      // The policy's guards are decided in the prefill add() runs; `policy`
      // lives in the job, which outlives its place in the batch.
      const uint64_t id = nextId++;
      Status st = job->session->prepare(request, raw->policy);
      if (st.ok())
        st = batch.add(id, job->prompt, std::move(request));
      if (!st.ok()) {
        finish(*job, st, false);
        continue;
      }
      running.emplace(id, std::move(job));
    }
    // Jobs whose client left or whose time is up leave before the step.
    for (auto it = running.begin(); it != running.end();) {
      Job &job = *it->second;
      const bool late = Clock::now() >= job.deadline;
      if (job.cancelled || late) {
        batch.cancel(it->first);
        finish(job,
               late ? StatusOr<GenerationResult>(timeoutError(job))
                    : StatusOr<GenerationResult>(
                          makeError(StatusCode::kUnavailable, "cancelled")),
               late);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    running_ = running.size();
    if (running.empty())
      continue;
    const Clock::time_point t0 = Clock::now();
    const size_t stepping = running.size();
    std::vector<GenerationBatch::Finished> ended = batch.step();
    const double secs =
        std::chrono::duration<double>(Clock::now() - t0).count();
    if (batch.stepped())
      metrics_.step(secs, stepping);
    for (GenerationBatch::Finished &f : ended) {
      auto it = running.find(f.id);
      if (it == running.end())
        continue;
      finish(*it->second, std::move(f.result), false);
      running.erase(it);
    }
    running_ = running.size();
  }
}

} // namespace steer::serve

//===- steer-serve - An OpenAI-compatible server for Steer ----------------===//
//
// Serves checkpoints and compiled artifacts over HTTP: POST /v1/completions
// and /v1/chat/completions (the OpenAI shapes, stream: true as server-sent
// events), GET /v1/models, /health and /metrics. A request runs under the
// policy its `model` names (an artifact) or its `policy` field names;
// artifacts of one checkpoint share its weights and its batch, so requests
// under different policies run in one batched forward per step. See
// docs/serving.md.
//
// The HTTP library is Debian's cpp-httplib: a blocking, thread-per-
// connection server is what this workload needs (each request waits on the
// batch, so the concurrency is bounded by the queue, not by sockets), it
// streams chunked responses, and it is a packaged, maintained library with
// no asynchronous framework to carry (Boost.Beast would need our own
// connection state machine on Asio for the same behaviour).
//
//===----------------------------------------------------------------------===//
#include "api.h"
#include "chat.h"
#include "metrics.h"
#include "scheduler.h"

#include "steer/session/session.h"
#include "../common/flags.h"

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <tuple>

namespace steer::serve {
namespace {

using ojson = nlohmann::ordered_json;

struct Options {
  std::vector<std::string> models;        // NAME=PATH
  std::vector<std::string> chatTemplates; // NAME=FILE
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string portFile;
  size_t maxBatch = 8;
  size_t maxQueue = 64;
  size_t maxBodyBytes = 1 << 20;
  int64_t maxPromptTokens = 0;  // 0: the model's context
  int64_t maxTokens = 0;        // 0: the model's context
  int64_t defaultMaxTokens = 64;
  double requestTimeout = 300;
  double drainTimeout = 60;
};

struct ServedModel {
  std::string name, path;
  std::unique_ptr<Session> session;
  size_t group = 0; // index of its checkpoint's scheduler
  ChatTemplate chat;
  int64_t created = 0;
};

/// Splits NAME=VALUE; the name is [A-Za-z0-9._:/-]+.
bool splitAssignment(const std::string &s, std::string &name,
                     std::string &value) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    return false;
  name = s.substr(0, eq);
  value = s.substr(eq + 1);
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string("._:/-").find(c) == std::string::npos)
      return false;
  return true;
}

/// The socket of the connection a request came on, found by its two
/// endpoints among this process's descriptors (-1 if none). cpp-httplib
/// does not hand handlers the socket; the server uses it only to poll for
/// the client's hangup.
int connectionSocket(const httplib::Request &req) {
  DIR *dir = ::opendir("/proc/self/fd");
  if (!dir)
    return -1;
  int found = -1;
  auto endpoint = [](const sockaddr_storage &ss, std::string &addr,
                     int &port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
      auto *a = reinterpret_cast<const sockaddr_in *>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto *a = reinterpret_cast<const sockaddr_in6 *>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      port = ntohs(a->sin6_port);
    } else {
      return false;
    }
    addr = buf;
    return true;
  };
  while (dirent *e = ::readdir(dir)) {
    char *end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end)
      continue;
    struct stat st;
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr *>(&peer),
                      &pl) != 0 ||
        ::getsockname(static_cast<int>(fd),
                      reinterpret_cast<sockaddr *>(&local), &ll) != 0)
      continue;
    std::string pa, la;
    int pp = -1, lp = -1;
    if (endpoint(peer, pa, pp) && endpoint(local, la, lp) &&
        pp == req.remote_port && lp == req.local_port &&
        pa == req.remote_addr && la == req.local_addr) {
      found = static_cast<int>(fd);
      break;
    }
  }
  ::closedir(dir);
  return found;
}

/// Whether the client has closed its side of the connection.
bool clientGone(int fd) {
  if (fd < 0)
    return false;
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/// A finished generation as the client sees it.
struct Answer {
  std::string text;
  int64_t completionTokens = 0;
  std::vector<int64_t> ids;
  std::string finishReason;
};

/// The text of `tokens` (generated tokens, masks and EOS already dropped)
/// cut at `maxTokens` tokens and at the first stop text, as steer-run
/// generate cuts its output.
Answer answerOf(const Session &session, std::span<const int64_t> tokens,
                int64_t maxTokens, const std::vector<std::string> &stops,
                bool ranToEnd) {
  Answer a;
  const size_t n = std::min<size_t>(tokens.size(), maxTokens);
  std::vector<size_t> ends; // text length after each token
  for (size_t i = 0; i < n; ++i) {
    a.text += session.decode(tokens.subspan(i, 1));
    ends.push_back(a.text.size());
  }
  const size_t cut = stopIndex(a.text, stops);
  bool stopped = cut < a.text.size();
  a.text.resize(cut);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && ends[i - 1] >= cut && stopped)
      break;
    a.ids.push_back(tokens[i]);
  }
  a.completionTokens = static_cast<int64_t>(a.ids.size());
  a.finishReason =
      stopped || (!ranToEnd && tokens.size() <= static_cast<size_t>(maxTokens))
          ? "stop"
          : "length";
  return a;
}

class Server {
public:
  explicit Server(Options o) : o_(std::move(o)) {}

  Status load();
  int run();

private:
  struct Route {
    const ServedModel *model = nullptr;  // what `model` named
    const ServedModel *policy = nullptr; // what the request runs under
  };

  std::optional<ApiError> resolve(const CompletionRequest &r, Route &route);
  std::optional<ApiError> makeJob(const CompletionRequest &r,
                                  const Route &route, Job &job,
                                  int64_t &maxTokens,
                                  std::vector<std::string> &stops);
  void complete(const httplib::Request &req, httplib::Response &res,
                bool chat);
  void reply(httplib::Response &res, const ApiError &e);
  ojson steerInfo(const Route &route, const Job &job) const;
  void track(int delta);

  Options o_;
  std::vector<std::unique_ptr<ServedModel>> models_;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
  Metrics metrics_;
  httplib::Server http_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> nextId_{0};
  std::mutex inflightMu_;
  std::condition_variable inflightCv_;
  int inflight_ = 0;
};

Status Server::load() {
  if (o_.models.empty())
    return makeError(StatusCode::kInvalidArgument,
                     "--model NAME=PATH is required (a checkpoint directory "
                     "or a compiled artifact; repeat it to serve several)");
  std::map<std::string, std::string> templates;
  for (const std::string &t : o_.chatTemplates) {
    std::string name, file;
    if (!splitAssignment(t, name, file))
      return makeError(StatusCode::kInvalidArgument, "--chat-template '", t,
                       "': expected NAME=FILE");
    templates[name] = file;
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const std::string &m : o_.models) {
    auto served = std::make_unique<ServedModel>();
    if (!splitAssignment(m, served->name, served->path))
      return makeError(StatusCode::kInvalidArgument, "--model '", m,
                       "': expected NAME=PATH, NAME of letters, digits and "
                       "._:/-");
    for (const auto &other : models_)
      if (other->name == served->name)
        return makeError(StatusCode::kInvalidArgument, "--model '", m,
                         "': the name '", served->name, "' is already taken");
    // Artifacts of a checkpoint already open run on its engine.
    SessionOptions so;
    std::vector<const Session *> bases;
    for (const auto &other : models_)
      bases.push_back(other->session.get());
    so.shareWith = bases;
    STEER_ASSIGN_OR_RETURN(served->session, Session::open(served->path, so),
                           "in --model ", served->name);
    served->group = schedulers_.size();
    for (const auto &other : models_)
      if (&other->session->engine() == &served->session->engine())
        served->group = other->group;
    if (served->group == schedulers_.size())
      schedulers_.push_back(std::make_unique<Scheduler>(
          served->session->engine(),
          SchedulerOptions{o_.maxBatch, o_.maxQueue}, metrics_));
    // The chat layout: given, the instruct layout, or declared beside the
    // checkpoint's config.json.
    std::string dir = served->session->checkpoint().dir();
    if (auto it = templates.find(served->name); it != templates.end()) {
      STEER_ASSIGN_OR_RETURN(served->chat, ChatTemplate::load(it->second),
                             "in --chat-template ", served->name);
      templates.erase(it);
    } else if (served->session->config().instruct) {
      served->chat = ChatTemplate::instruct();
    } else {
      if (const Artifact *a = served->session->artifact();
          a && a->selfContained())
        dir = a->manifest().checkpoint().path();
      struct stat st;
      std::string file = dir + "/steer_chat.json";
      if (::stat(file.c_str(), &st) == 0) {
        STEER_ASSIGN_OR_RETURN(served->chat, ChatTemplate::load(file),
                               "in the chat template of ", served->name);
      }
    }
    served->created = now;
    models_.push_back(std::move(served));
  }
  if (!templates.empty())
    return makeError(StatusCode::kInvalidArgument, "--chat-template ",
                     templates.begin()->first, ": no --model of that name");
  return okStatus();
}

void Server::reply(httplib::Response &res, const ApiError &e) {
  res.status = e.status;
  if (e.retryAfter > 0)
    res.set_header("Retry-After", std::to_string(e.retryAfter));
  res.set_content(jsonText(e.toJson()) + "\n", "application/json");
}

void Server::track(int delta) {
  std::lock_guard<std::mutex> lock(inflightMu_);
  inflight_ += delta;
  inflightCv_.notify_all();
}

std::optional<ApiError> Server::resolve(const CompletionRequest &r,
                                        Route &route) {
  auto find = [&](const std::string &name) -> const ServedModel * {
    for (const auto &m : models_)
      if (m->name == name)
        return m.get();
    return nullptr;
  };
  route.model = find(r.model);
  if (!route.model) {
    ApiError e = badRequest("model", "model '" + r.model +
                                         "' is not served here; GET "
                                         "/v1/models lists the names");
    e.status = 404;
    e.code = "model_not_found";
    return e;
  }
  route.policy = route.model;
  if (r.policy) {
    const ServedModel *p = find(*r.policy);
    if (!p || !p->session->artifact())
      return badRequest("policy", "policy '" + *r.policy +
                                      "' is not a compiled artifact served "
                                      "here; GET /v1/models lists them");
    if (p->group != route.model->group)
      return badRequest("policy", "policy '" + *r.policy +
                                      "' was compiled for another checkpoint "
                                      "than model '" + r.model + "'");
    if (route.model->session->artifact() && p != route.model)
      return badRequest("policy", "model '" + r.model +
                                      "' is itself a policy; name the "
                                      "checkpoint as 'model' to run under "
                                      "policy '" + *r.policy + "'");
    route.policy = p;
  }
  return std::nullopt;
}

std::optional<ApiError> Server::makeJob(const CompletionRequest &r,
                                        const Route &route, Job &job,
                                        int64_t &maxTokens,
                                        std::vector<std::string> &stops) {
  const Session &s = *route.policy->session;
  const ModelConfig &c = s.config();
  const std::string input = r.chat ? "messages" : "prompt";
  // The prompt.
  if (r.chat) {
    if (route.policy->chat.kind == ChatTemplate::Kind::kNone)
      return badRequest("messages",
                        "model '" + route.model->name +
                            "' has no chat layout (a base model declares one "
                            "in steer_chat.json beside its config.json, or "
                            "give --chat-template); use /v1/completions");
    auto ids = route.policy->chat.render(s, r.messages);
    if (!ids.ok())
      return badRequest("messages", std::string(ids.status().message()));
    job.prompt = std::move(*ids);
    stops = route.policy->chat.stop;
  } else if (r.promptIds) {
    if (Status st = s.engine().checkIds(*r.promptIds); !st.ok())
      return badRequest("prompt", "'prompt': " + std::string(st.message()));
    job.prompt = *r.promptIds;
  } else {
    auto ids = s.encode(r.prompt);
    if (!ids.ok())
      return badRequest("prompt", "'prompt': " +
                                      std::string(ids.status().message()));
    job.prompt = std::move(*ids);
  }
  const int64_t P = static_cast<int64_t>(job.prompt.size());
  const int64_t B = c.diffBlockSize, context = c.blockSize;
  const int64_t maxPrompt =
      o_.maxPromptTokens > 0 ? std::min(o_.maxPromptTokens, context - B)
                             : context - B;
  if (P == 0)
    return badRequest(input, "'" + input + "' is empty");
  if (P > maxPrompt)
    return badRequest(input, "'" + input + "' is " + std::to_string(P) +
                                 " tokens; at most " +
                                 std::to_string(maxPrompt) +
                                 " are accepted (the model's context is " +
                                 std::to_string(context) +
                                 " and a reply needs one block of " +
                                 std::to_string(B) + ")");
  // Tokens: the client's limit, generated in whole blocks.
  const std::string mt = "max_tokens";
  const int64_t limit = o_.maxTokens > 0 ? o_.maxTokens : context;
  maxTokens = r.maxTokens.value_or(
      std::min<int64_t>(o_.defaultMaxTokens, (context - P) / B * B));
  if (maxTokens > limit)
    return badRequest(mt, "'max_tokens' is " + std::to_string(maxTokens) +
                              "; this server's limit is " +
                              std::to_string(limit));
  const int64_t gen = (maxTokens + B - 1) / B * B;
  if (P + gen > context)
    return badRequest(mt, "the prompt (" + std::to_string(P) +
                              " tokens) and 'max_tokens' " +
                              std::to_string(maxTokens) +
                              (gen != maxTokens ? " (generated as " +
                                                      std::to_string(gen) +
                                                      ", whole blocks of " +
                                                      std::to_string(B) + ")"
                                                : std::string()) +
                              " exceed the model's context of " +
                              std::to_string(context) + " tokens");
  SamplingOptions so;
  if (r.temperature || r.topP) {
    so.entropySampling = false;
    so.temperature = r.temperature.value_or(1.0);
    so.topP = r.topP.value_or(1.0);
  }
  so.repetitionPenalty = r.repetitionPenalty.value_or(1.1);
  so.maxNewTokens = gen;
  so.steps = r.steps;
  so.seed = r.seed;
  if (r.steps) {
    const int64_t blocks = gen / B;
    if (*r.steps % blocks != 0 || *r.steps > gen)
      return badRequest("steps", "'steps' is " + std::to_string(*r.steps) +
                                     "; it must be a multiple of the " +
                                     std::to_string(blocks) +
                                     " blocks generated and at most " +
                                     std::to_string(gen));
  }
  stops.insert(stops.end(), r.stop.begin(), r.stop.end());
  job.request.sampling = so;
  job.request.stopText = stops;
  const Session *session = &s;
  job.request.decode = [session](std::span<const int64_t> ids) {
    return session->decode(ids);
  };
  job.session = &s;
  job.modelName = route.model->name;
  return std::nullopt;
}

ojson Server::steerInfo(const Route &route, const Job &job) const {
  ojson j;
  j["policy"] = route.policy->session->artifact() ? ojson(route.policy->name)
                                                  : ojson();
  j["rules_fired"] = job.policy.fired;
  j["steps"] = job.result.steps;
  j["queue_ms"] = std::round(job.queueSeconds * 1e4) / 10;
  return j;
}

std::string randomId(const char *prefix, uint64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%016llx%04llx", prefix,
                (unsigned long long)std::time(nullptr) * 2654435761ULL,
                (unsigned long long)(n & 0xffff));
  return buf;
}

void Server::complete(const httplib::Request &req, httplib::Response &res,
                      bool chat) {
  const Clock::time_point t0 = Clock::now();
  CompletionRequest r;
  Route route;
  auto refuse = [&](const ApiError &e) {
    reply(res, e);
    metrics_.request(route.model ? route.model->name : "", e.status,
                     std::chrono::duration<double>(Clock::now() - t0).count());
  };
  if (draining_) {
    ApiError e;
    e.status = 503;
    e.type = "server_error";
    e.code = "draining";
    e.message = "the server is shutting down (SIGTERM); retry on another "
                "instance";
    e.retryAfter = 1;
    return refuse(e);
  }
  if (auto e = parseCompletionRequest(req.body, chat, r))
    return refuse(*e);
  if (auto e = resolve(r, route))
    return refuse(*e);
  auto job = std::make_shared<Job>();
  int64_t maxTokens = 0;
  std::vector<std::string> stops;
  if (auto e = makeJob(r, route, *job, maxTokens, stops))
    return refuse(*e);
  job->deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(o_.requestTimeout));
  Scheduler &scheduler = *schedulers_[route.policy->group];
  if (!scheduler.submit(job)) {
    ApiError e;
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "queue_full";
    e.message = "the request queue is full (" +
                std::to_string(o_.maxQueue) + " waiting); retry later";
    // About one batch's worth of requests ahead: a second per step block.
    e.retryAfter = 1;
    return refuse(e);
  }
  const int fd = connectionSocket(req);
  const uint64_t serial = nextId_++;
  const std::string id = randomId(chat ? "chatcmpl-" : "cmpl-", serial);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string object = chat ? "chat.completion" : "text_completion";
  const ServedModel *model = route.model;
  const bool instruct = route.policy->session->config().instruct;
  const int64_t mask = route.policy->session->config().maskTokenId;
  const int64_t eos = route.policy->session->config().eosTokenId;

  auto usage = [](const Job &j, const Answer &a) {
    return ojson{{"prompt_tokens", j.prompt.size()},
                 {"completion_tokens", a.completionTokens},
                 {"total_tokens", (int64_t)j.prompt.size() + a.completionTokens}};
  };
  auto finalAnswer = [=](const Job &j) {
    const bool ranToEnd =
        static_cast<int64_t>(j.result.generated.size()) ==
        j.request.sampling.maxNewTokens;
    return answerOf(*j.session, j.result.generated, maxTokens, stops,
                    ranToEnd);
  };
  auto errorOf = [](const Job &j) {
    ApiError e;
    const StatusCode code = j.error.code();
    e.message = std::string(j.error.message());
    if (j.timedOut) {
      e.status = 504;
      e.type = "server_error";
      e.code = "timeout";
    } else if (code == StatusCode::kInvalidArgument ||
               code == StatusCode::kOutOfRange) {
      e.status = 400;
    } else {
      e.status = 500;
      e.type = "server_error";
    }
    return e;
  };

  if (!r.stream) {
    // Wait, watching the client: one that leaves frees its slot.
    bool gone = false;
    {
      std::unique_lock<std::mutex> lock(job->mu);
      while (!job->done) {
        job->cv.wait_for(lock, std::chrono::milliseconds(50));
        if (!gone && !job->done && clientGone(fd)) {
          gone = true;
          metrics_.disconnect();
          lock.unlock();
          scheduler.cancel(job);
          lock.lock();
        }
      }
    }
    const double secs =
        std::chrono::duration<double>(Clock::now() - t0).count();
    if (!job->error.ok()) {
      ApiError e = errorOf(*job);
      if (gone)
        e.status = 499; // nobody reads it
      reply(res, e);
      metrics_.request(model->name, e.status, secs);
      return;
    }
    Answer a = finalAnswer(*job);
    ojson out;
    out["id"] = id;
    out["object"] = object;
    out["created"] = created;
    out["model"] = model->name;
    ojson choice;
    choice["index"] = 0;
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", a.text}};
    } else {
      choice["text"] = a.text;
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = a.finishReason;
    out["choices"] = ojson::array({choice});
    out["usage"] = usage(*job, a);
    ojson info = steerInfo(route, *job);
    info["completion_ids"] = a.ids;
    out["steer"] = info;
    res.set_header("X-Steer-Rules-Fired", [&] {
      std::string s;
      for (const std::string &f : job->policy.fired)
        s += (s.empty() ? "" : ",") + f;
      return s;
    }());
    res.set_content(jsonText(out) + "\n", "application/json");
    metrics_.request(model->name, 200, secs);
    metrics_.tokens(model->name, job->prompt.size(), a.completionTokens);
    metrics_.rulesFired(route.policy->name, job->policy.fired);
    return;
  }

  // Streaming: committed text is final once no masked position precedes
  // it; each step's new final text goes out as one event. The last
  // (longest stop - 1) bytes are held back until the answer is complete,
  // so that text a stop sequence will cut is never sent.
  size_t holdBack = 0;
  for (const std::string &s : stops)
    holdBack = std::max(holdBack, s.size() - 1);
  track(+1);
  auto sent = std::make_shared<std::string>();
  auto chunk = [=](const std::string &delta, const char *finish,
                   bool first) {
    ojson c;
    c["id"] = id;
    c["object"] = chat ? "chat.completion.chunk" : "text_completion";
    c["created"] = created;
    c["model"] = model->name;
    ojson choice;
    choice["index"] = 0;
    if (chat) {
      // The first chunk names the role, the last is empty, the others
      // carry text.
      ojson d = ojson::object();
      if (first)
        d["role"] = "assistant";
      else if (!finish)
        d["content"] = delta;
      choice["delta"] = d;
    } else {
      choice["text"] = delta;
    }
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish ? ojson(finish) : ojson();
    c["choices"] = ojson::array({choice});
    return c;
  };
  auto event = [](const ojson &j) { return "data: " + jsonText(j) + "\n\n"; };
  res.set_header("Cache-Control", "no-cache");
  Scheduler *sched = &scheduler;
  res.set_chunked_content_provider(
      "text/event-stream",
      [=, this](size_t, httplib::DataSink &sink) {
        auto write = [&](const std::string &s) {
          return sink.write(s.data(), s.size());
        };
        bool ok = true;
        if (chat)
          ok = write(event(chunk("", nullptr, true)));
        uint64_t seen = 0;
        // The final text so far, decoded once per token (the prefix only
        // grows), cut at max_tokens tokens.
        std::string text;
        size_t decoded = 0;
        std::unique_lock<std::mutex> lock(job->mu);
        while (ok) {
          job->cv.wait_for(lock, std::chrono::milliseconds(50));
          if (clientGone(fd)) {
            ok = false;
            break;
          }
          if (job->done)
            break;
          if (job->version == seen)
            continue;
          seen = job->version;
          // The final prefix: up to the first open position.
          std::vector<int64_t> prefix;
          for (int64_t t : job->region) {
            if (t == mask || (instruct && t == 100283))
              break;
            if (t != eos)
              prefix.push_back(t);
          }
          lock.unlock();
          const size_t final =
              std::min<size_t>(prefix.size(), static_cast<size_t>(maxTokens));
          for (; decoded < final; ++decoded)
            text += job->session->decode(
                std::span<const int64_t>(&prefix[decoded], 1));
          const size_t cut = stopIndex(text, stops);
          const size_t upTo = cut < text.size() ? cut
                              : text.size() > holdBack ? text.size() - holdBack
                                                       : 0;
          if (upTo > sent->size()) {
            ok = write(event(chunk(text.substr(sent->size(), upTo - sent->size()),
                                   nullptr, false)));
            *sent = text.substr(0, upTo);
          }
          lock.lock();
        }
        if (!ok) {
          lock.unlock();
          sched->cancel(job);
          metrics_.disconnect();
          metrics_.request(model->name, 499,
                           std::chrono::duration<double>(Clock::now() - t0)
                               .count());
          return false;
        }
        lock.unlock();
        const double secs =
            std::chrono::duration<double>(Clock::now() - t0).count();
        if (!job->error.ok()) {
          ApiError e = errorOf(*job);
          write(event(e.toJson()));
          metrics_.request(model->name, e.status, secs);
        } else {
          Answer a = finalAnswer(*job);
          if (a.text.compare(0, sent->size(), *sent) != 0) {
            // Cannot happen: committed tokens never change.
            ApiError e;
            e.status = 500;
            e.type = "server_error";
            e.message = "internal: the streamed text is not a prefix of the "
                        "answer";
            write(event(e.toJson()));
          } else {
            std::string rest = a.text.substr(sent->size());
            if (!rest.empty())
              write(event(chunk(rest, nullptr, false)));
            ojson last = chunk("", a.finishReason.c_str(), false);
            ojson info = steerInfo(route, *job);
            info["completion_ids"] = a.ids;
            last["steer"] = info;
            if (r.includeUsage)
              last["usage"] = usage(*job, a);
            write(event(last));
          }
          metrics_.request(model->name, 200, secs);
          metrics_.tokens(model->name, job->prompt.size(), a.completionTokens);
          metrics_.rulesFired(route.policy->name, job->policy.fired);
        }
        write("data: [DONE]\n\n");
        sink.done();
        return true;
      },
      [this](bool) { track(-1); });
}

int Server::run() {
  // A thread for every request a scheduler may hold (running or queued),
  // and a few for /health and /metrics; connections past that wait for a
  // thread (the cap keeps a huge --max-queue from meaning as many threads).
  const size_t handlers = std::min<size_t>(
      schedulers_.size() * (o_.maxBatch + o_.maxQueue) + 16, 1024);
  http_.new_task_queue = [handlers] {
    return new httplib::ThreadPool(handlers);
  };
  http_.set_payload_max_length(o_.maxBodyBytes);
  http_.set_read_timeout(10, 0);
  http_.set_write_timeout(10, 0);
  http_.set_keep_alive_max_count(1000);
  http_.set_error_handler([this](const httplib::Request &req,
                                 httplib::Response &res) {
    if (!res.body.empty())
      return;
    ApiError e;
    e.status = res.status;
    if (res.status == 413) {
      e.message = "the body is larger than this server's --max-body-bytes (" +
                  std::to_string(o_.maxBodyBytes) + ")";
    } else if (res.status == 404) {
      e.message = "no such endpoint: " + req.method + " " + req.path;
      e.code = "not_found";
    } else {
      e.message = "bad request";
    }
    reply(res, e);
  });
  http_.set_exception_handler([this](const httplib::Request &,
                                     httplib::Response &res,
                                     std::exception_ptr ep) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception &ex) {
      e.message = std::string("internal error: ") + ex.what();
    } catch (...) {
      e.message = "internal error";
    }
    reply(res, e);
  });

  auto counted = [this](bool chat) {
    return [this, chat](const httplib::Request &req, httplib::Response &res) {
      track(+1);
      complete(req, res, chat);
      track(-1);
    };
  };
  http_.Post("/v1/completions", counted(false));
  http_.Post("/v1/chat/completions", counted(true));
  auto modelJson = [this](const ServedModel &m) {
    ojson j;
    j["id"] = m.name;
    j["object"] = "model";
    j["created"] = m.created;
    j["owned_by"] = "steer";
    const Session &s = *m.session;
    ojson st;
    st["kind"] = s.artifact() ? "artifact" : "checkpoint";
    st["path"] = m.path;
    std::string base;
    for (const auto &o : models_)
      if (o->group == m.group) {
        base = o->name;
        break;
      }
    st["checkpoint"] = base; // the first model served on these weights
    if (s.artifact())
      st["ops"] = s.program()->opCount();
    st["context"] = s.config().blockSize;
    st["diff_block_size"] = s.config().diffBlockSize;
    st["chat_template"] = m.chat.kind == ChatTemplate::Kind::kNone
                              ? ojson()
                              : ojson(m.chat.source);
    j["steer"] = st;
    return j;
  };
  http_.Get("/v1/models", [=, this](const httplib::Request &,
                                    httplib::Response &res) {
    ojson list = ojson::array();
    for (const auto &m : models_)
      list.push_back(modelJson(*m));
    res.set_content(jsonText(ojson{{"object", "list"}, {"data", list}}) + "\n",
                    "application/json");
  });
  http_.Get(R"(/v1/models/(.+))", [=, this](const httplib::Request &req,
                                             httplib::Response &res) {
    for (const auto &m : models_)
      if (m->name == req.matches[1].str()) {
        res.set_content(jsonText(modelJson(*m)) + "\n", "application/json");
        return;
      }
    ApiError e = badRequest("model", "model '" + req.matches[1].str() +
                                         "' is not served here");
    e.status = 404;
    e.code = "model_not_found";
    reply(res, e);
  });
  http_.Get("/health", [this](const httplib::Request &,
                              httplib::Response &res) {
    if (draining_) {
      res.status = 503;
      res.set_content("{\"status\":\"draining\"}\n", "application/json");
      return;
    }
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  http_.Get("/metrics", [this](const httplib::Request &,
                               httplib::Response &res) {
    size_t queued = 0, running = 0;
    for (const auto &s : schedulers_) {
      queued += s->queued();
      running += s->running();
    }
    res.set_content(metrics_.render(queued, running, draining_),
                    "text/plain; version=0.0.4");
  });

  int port = o_.port;
  if (port == 0) {
    port = http_.bind_to_any_port(o_.host);
    if (port < 0) {
      std::fprintf(stderr, "steer-serve: cannot listen on %s\n",
                   o_.host.c_str());
      return 2;
    }
  } else if (!http_.bind_to_port(o_.host, port)) {
    std::fprintf(stderr,
                 "steer-serve: cannot listen on %s:%d (in use, or not an "
                 "address of this machine)\n",
                 o_.host.c_str(), port);
    return 2;
  }
  if (!o_.portFile.empty()) {
    std::ofstream f(o_.portFile + ".tmp");
    f << port << "\n";
    f.close();
    if (!f || std::rename((o_.portFile + ".tmp").c_str(),
                          o_.portFile.c_str()) != 0) {
      std::fprintf(stderr, "steer-serve: cannot write --port-file %s\n",
                   o_.portFile.c_str());
      return 2;
    }
  }

  std::fprintf(stderr, "steer-serve: listening on http://%s:%d (%zu models, "
                       "%zu checkpoints in memory)\n",
               o_.host.c_str(), port, models_.size(), schedulers_.size());
  // SIGTERM and SIGINT: stop taking requests, finish those in flight, exit.
  std::atomic<bool> listening{true};
  std::thread signals([this, &listening] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    if (!listening)
      return; // woken by run() itself: the server has already stopped
    std::fprintf(stderr, "steer-serve: %s: draining\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    draining_ = true;
    bool drained = false;
    {
      std::unique_lock<std::mutex> lock(inflightMu_);
      drained = inflightCv_.wait_for(
          lock,
          std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(o_.drainTimeout)),
          [this] { return inflight_ == 0; });
    }
    std::fprintf(stderr, "steer-serve: %s\n",
                 drained ? "drained; stopping"
                         : "--drain-timeout reached; stopping with requests "
                           "in flight");
    http_.stop();
  });
  const bool ok = http_.listen_after_bind();
  if (listening.exchange(false) && !draining_)
    pthread_kill(signals.native_handle(), SIGTERM); // wake it to end
  signals.join();
  for (auto &s : schedulers_)
    s->drain();
  return ok ? 0 : 2;
}

} // namespace
} // namespace steer::serve

int main(int argc, char **argv) {
  using steer::serve::Options;
  Options o;
  CLI::App app{"steer-serve: an OpenAI-compatible server for Steerling "
               "checkpoints and Steer artifacts"};
  app.add_option("--model", o.models,
                 "NAME=PATH: a checkpoint directory or compiled artifact "
                 "served as NAME (repeatable; artifacts of one checkpoint "
                 "share its weights and batch)")
      ->required();
  app.add_option("--chat-template", o.chatTemplates,
                 "NAME=FILE: the chat layout of model NAME (default: the "
                 "instruct layout, or steer_chat.json beside the "
                 "checkpoint's config.json)");
  app.add_option("--host", o.host, "address to listen on")
      ->capture_default_str();
  app.add_option("--port", o.port, "port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--port-file", o.portFile,
                 "write the port here once listening");
  app.add_option("--max-batch", o.maxBatch,
                 "requests of one checkpoint stepped together")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-queue", o.maxQueue,
                 "requests waiting beyond the batch before 429")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--max-body-bytes", o.maxBodyBytes, "largest request body")
      ->check(CLI::Range(64, 1 << 30))
      ->capture_default_str();
  app.add_option("--max-prompt-tokens", o.maxPromptTokens,
                 "longest prompt (default: the model's context less one "
                 "block)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  app.add_option("--max-tokens", o.maxTokens,
                 "largest max_tokens (default: the model's context)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  app.add_option("--default-max-tokens", o.defaultMaxTokens,
                 "max_tokens of a request that gives none")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30))
      ->capture_default_str();
  app.add_option("--request-timeout", o.requestTimeout,
                 "seconds a request may wait and run")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drainTimeout,
                 "seconds SIGTERM waits for requests in flight")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // CLI11's range check lets NaN through (every comparison with it fails).
  for (auto [name, value, lo] :
       {std::tuple{"--request-timeout", o.requestTimeout, 0.001},
        std::tuple{"--drain-timeout", o.drainTimeout, 0.0}})
    if (!(lo <= value && value <= 86400)) {
      std::fprintf(stderr, "steer-serve: %s must be a number of seconds in "
                           "[%g, 86400]\n", name, lo);
      return 2;
    }

  // Signals go to the signal thread only; writes to a closed socket fail
  // with EPIPE instead of killing the process.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  steer::serve::Server server(o);
  if (steer::Status st = server.load(); !st.ok()) {
    std::fprintf(stderr, "steer-serve: %s\n", st.toString().c_str());
    return 2;
  }
  return server.run();
}

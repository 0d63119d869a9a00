// The videolikes page: the catalogue, a like button per video and its comments, using only
// the public API.
"use strict";

const PAGE_SIZE = 50;
// The action reCAPTCHA is asked for per write, as the original web client asks (the server
// can check it: RECAPTCHA_CHECK_ACTION).
const LIKE_VIDEO = "like_video";
const POST_COMMENT = "post_comment";
const LIKE_COMMENT = "like_comment";
// Per-video status requests in flight at once, when the server has no batch endpoint.
const STATUS_CONCURRENCY = 6;
// Past these, a request or reCAPTCHA counts as failed instead of leaving a button busy.
const REQUEST_TIMEOUT_MS = 15000;
const RECAPTCHA_TIMEOUT_MS = 10000;

const numbers = new Intl.NumberFormat("en");

class ApiError extends Error {
  constructor(status, serverMessage, retryAfter) {
    super(serverMessage || `HTTP ${status}`);
    this.status = status; // 0 when the server could not be reached
    this.serverMessage = serverMessage;
    this.retryAfter = retryAfter;
  }
}

class RecaptchaUnavailable extends Error {}

// --- the API -----------------------------------------------------------------------------

async function api(method, path, token, json) {
  const headers = { Accept: "application/json" };
  if (token) headers["X-Recaptcha-Token"] = token;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch {
    throw new ApiError(0, null, null);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : null;
    throw new ApiError(response.status, message, response.headers.get("Retry-After"));
  }
  return { body, response };
}

function likePath(id) {
  return `/api/videos/${encodeURIComponent(id)}/like`;
}

// The next page's path from `Link: <...>; rel="next"`, kept on this origin.
function nextPageFrom(response) {
  const header = response.headers.get("Link") || "";
  for (const [, target, params] of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";,]*)/i.exec(params);
    if (rel && rel[1].trim().split(/\s+/).includes("next")) {
      const url = new URL(target, response.url);
      return url.pathname + url.search;
    }
  }
  return null;
}

// Feature detection, remembered once the server has answered: null means not known yet.
let batchStatus = null; // GET /api/me/likes?ids=...
let idempotentWrites = null; // PUT and DELETE /api/videos/{id}/like

async function userLikes(ids) {
  // Without ids the batch endpoint lists this client's likes instead: never ask it that.
  if (ids.length === 0) return new Map();
  if (batchStatus !== false) {
    const query = ids.map(encodeURIComponent).join(",");
    try {
      const { body } = await api("GET", `/api/me/likes?ids=${query}`);
      batchStatus = true;
      return new Map(ids.map((id) => [id, body.userLikes[id] === true]));
    } catch (error) {
      if (batchStatus === true || error.status !== 404) throw error;
      batchStatus = false;
    }
  }
  const liked = new Map();
  const queue = [...ids];
  async function worker() {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      try {
        liked.set(id, (await api("GET", likePath(id))).body.userLike === true);
      } catch (error) {
        if (error.status !== 404) throw error; // deleted since the list was read
      }
    }
  }
  await Promise.all(Array.from({ length: STATUS_CONCURRENCY }, worker));
  return liked;
}

// Says what this client wants rather than toggling when the server allows it, so that a
// retried request can never undo itself. Resolves to whether the video is now liked.
async function writeLike(id, like) {
  if (idempotentWrites !== false) {
    try {
      const { body } = await api(like ? "PUT" : "DELETE", likePath(id), await recaptchaToken(LIKE_VIDEO));
      idempotentWrites = true;
      return body.userLike === true;
    } catch (error) {
      if (idempotentWrites === true || error.status !== 405) throw error;
      idempotentWrites = false;
    }
  }
  const { body } = await api("POST", likePath(id), await recaptchaToken(LIKE_VIDEO));
  return body.userLike === true;
}

// --- reCAPTCHA v3 ------------------------------------------------------------------------

const siteKey = document.body.dataset.recaptchaSiteKey || "";
let recaptchaLoaded = null;

function loadRecaptcha() {
  recaptchaLoaded ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `https://www.google.com/recaptcha/api.js?render=${encodeURIComponent(siteKey)}`;
    script.async = true;
    const fail = () => {
      script.remove();
      recaptchaLoaded = null; // the next write tries again
      reject(new RecaptchaUnavailable());
    };
    script.onload = () => (window.grecaptcha ? window.grecaptcha.ready(resolve) : fail());
    script.onerror = fail;
    document.head.append(script);
  });
  return recaptchaLoaded;
}

// A fresh token for every write: tokens are single-use and expire after two minutes.
async function recaptchaToken(action) {
  if (!siteKey) return null;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new RecaptchaUnavailable()), RECAPTCHA_TIMEOUT_MS);
  });
  const token = loadRecaptcha().then(() =>
    window.grecaptcha.execute(siteKey, { action }),
  );
  try {
    return await Promise.race([token, timeout]);
  } catch {
    throw new RecaptchaUnavailable();
  } finally {
    clearTimeout(timer);
  }
}

// --- presentation ------------------------------------------------------------------------

function plural(count, one, many) {
  return `${numbers.format(count)} ${count === 1 ? one : many}`;
}

function formatLength(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

// A stable colour per video for its placeholder poster: FNV-1a, then a mixing step, because
// FNV's low bits barely change between ids that differ only in their last digits.
function hueClass(id) {
  let hash = 0x811c9dc5;
  for (const char of id) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return `hue-${(hash >>> 0) % 8}`;
}

function explain(error, title) {
  if (error instanceof RecaptchaUnavailable) {
    return "reCAPTCHA could not load, so your like was not sent. Check your connection or content blocker and try again.";
  }
  const detail = error.serverMessage ? `${error.status}: ${error.serverMessage}` : `${error.status}`;
  switch (true) {
    case error.status === 0:
      return "Could not reach the server. Check your connection and try again.";
    case error.status === 403:
      return `Your like was refused because the request could not be verified (${detail}). Reload the page and try again.`;
    case error.status === 404:
      return `“${title}” is no longer available (${detail}).`;
    case error.status === 429: {
      const seconds = Number.parseInt(error.retryAfter, 10);
      const when = Number.isFinite(seconds) ? `in ${plural(seconds, "second", "seconds")}` : "in a moment";
      return `Too many likes in a short time. Try again ${when}.`;
    }
    case error.status >= 500:
      return `The server could not save your like (${detail}). Try again later.`;
    default:
      return `Your like could not be saved (${detail}).`;
  }
}

const grid = document.getElementById("videos");
const statusLine = document.getElementById("status");
const moreButton = document.getElementById("more");
const cardTemplate = document.getElementById("card-template");
const cards = new Map(); // video id -> Card

class Card {
  constructor(video, liked) {
    this.id = video.id;
    this.title = video.title || video.id;
    this.likes = video.likes; // the server's count for `liked`
    this.liked = liked; // the server's answer for this client
    this.busy = false;
    this.gone = false; // deleted on the server: nothing left to like

    this.element = cardTemplate.content.firstElementChild.cloneNode(true);
    const find = (selector) => this.element.querySelector(selector);
    this.element.dataset.videoId = video.id;
    find(".poster").classList.add(hueClass(video.id));
    find(".shorts-badge").hidden = !video.is_shorts;
    const length = find(".length");
    length.textContent = formatLength(video.length);
    length.dateTime = `PT${Math.max(0, Math.round(video.length))}S`;
    find(".title").textContent = this.title;
    find(".views").textContent = plural(video.views, "view", "views");
    find(".playlist").textContent = video.playlist || "";
    find(".like-target").textContent = ` “${this.title}”`;
    this.button = find(".like");
    this.count = find(".likes-count");
    this.unit = find(".likes-unit");
    this.error = find(".card-error");
    this.button.addEventListener("click", () => this.toggle());
    this.show(this.liked, this.likes);
    this.comments = new Comments(find(".comments"), video.id);
  }

  show(liked, likes) {
    this.button.setAttribute("aria-pressed", String(liked));
    this.count.textContent = numbers.format(likes);
    this.unit.textContent = likes === 1 ? "like" : "likes";
  }

  // Records what the server says this client's state is, adjusting the count to match.
  confirm(liked) {
    if (liked !== this.liked) this.likes = Math.max(0, this.likes + (liked ? 1 : -1));
    this.liked = liked;
    this.show(this.liked, this.likes);
  }

  async toggle() {
    if (this.busy || this.gone) return;
    const want = !this.liked;
    this.busy = true;
    this.button.setAttribute("aria-busy", "true");
    this.error.textContent = "";
    // Shown at once; put right below from the server's answer, whatever it is.
    this.show(want, Math.max(0, this.likes + (want ? 1 : -1)));
    try {
      this.confirm(await writeLike(this.id, want));
    } catch (error) {
      this.show(this.liked, this.likes);
      this.error.textContent = explain(error, this.title);
      await this.refresh(error);
    } finally {
      this.busy = false;
      this.button.removeAttribute("aria-busy");
    }
  }

  // After a failed write, asks the server for the true state: a lost answer may hide a
  // write that did happen.
  async refresh(writeError) {
    if (writeError.status === 404) {
      this.markGone();
      return;
    }
    try {
      this.confirm((await api("GET", likePath(this.id))).body.userLike === true);
    } catch (error) {
      if (error.status === 404) this.markGone();
      // Otherwise the last confirmed state stays shown, with the write's error above.
    }
  }

  // aria-disabled rather than disabled, so keyboard focus stays on the button.
  markGone() {
    this.gone = true;
    this.button.setAttribute("aria-disabled", "true");
  }
}

// --- comments ----------------------------------------------------------------------------

const commentTemplate = document.getElementById("comment-template");
const commentTime = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });

function commentsPath(videoId) {
  return `/api/videos/${encodeURIComponent(videoId)}/comments`;
}

function commentLikePath(id) {
  return `/api/comments/${encodeURIComponent(id)}/like`;
}

// Why a comment write failed, in the server's own words when it gave some.
function explainCommentError(error, what) {
  if (error instanceof RecaptchaUnavailable) {
    return `reCAPTCHA could not load, so your ${what} was not sent. Check your connection or content blocker and try again.`;
  }
  if (error.status === 0) return "Could not reach the server. Check your connection and try again.";
  if (error.status === 429 && error.retryAfter) {
    const seconds = Number.parseInt(error.retryAfter, 10);
    const when = Number.isFinite(seconds) ? `in ${plural(seconds, "second", "seconds")}` : "in a moment";
    return `Too many writes in a short time. Try again ${when}.`;
  }
  const reason = error.serverMessage ? `: ${error.serverMessage}` : ` (${error.status})`;
  return `The server refused your ${what}${reason}.`;
}

class Comments {
  constructor(details, videoId) {
    this.details = details;
    this.videoId = videoId;
    this.loaded = false;
    this.total = 0;
    this.summary = details.querySelector(".comments-summary");
    this.status = details.querySelector(".comments-status");
    this.list = details.querySelector(".comment-list");
    const form = details.querySelector(".comment-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post(form, null, this.list);
    });
    details.addEventListener("toggle", () => {
      if (details.open && !this.loaded) this.load();
    });
  }

  async load() {
    this.status.textContent = "Loading comments…";
    try {
      const { body } = await api("GET", commentsPath(this.videoId));
      this.loaded = true;
      this.list.replaceChildren(...body.comments.map((comment) => this.element(comment, true)));
      this.count(body.totalCount);
    } catch (error) {
      this.status.textContent = `The comments could not be loaded (${error.status || "no connection"}).`;
    }
  }

  count(total) {
    this.total = total;
    this.summary.textContent = `Comments (${numbers.format(total)})`;
    this.status.textContent = total ? "" : "No comments yet.";
  }

  element(comment, topLevel) {
    const item = commentTemplate.content.firstElementChild.cloneNode(true);
    const find = (selector) => item.querySelector(selector);
    item.dataset.commentId = comment.id;
    find(".comment-user").textContent = comment.user.username;
    const time = find(".comment-time");
    time.dateTime = comment.createdAt;
    time.textContent = commentTime.format(new Date(comment.createdAt));
    find(".comment-content").textContent = comment.content;
    this.likeButton(item, comment);
    if (topLevel) {
      const reply = find(".comment-reply");
      const form = find(".reply-form");
      const replies = find(".reply-list");
      reply.hidden = false;
      reply.addEventListener("click", () => {
        form.hidden = !form.hidden;
        if (!form.hidden) form.querySelector("textarea").focus();
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.post(form, comment.id, replies);
      });
      replies.replaceChildren(...comment.replies.map((child) => this.element(child, false)));
    } else {
      find(".reply-list").remove();
      find(".reply-form").remove();
    }
    return item;
  }

  likeButton(item, comment) {
    const button = item.querySelector(".comment-like");
    const count = item.querySelector(".comment-likes");
    const error = item.querySelector(".comment-like-error");
    let liked = comment.userLike === true;
    let likes = comment.likes;
    const show = () => {
      button.setAttribute("aria-pressed", String(liked));
      count.textContent = numbers.format(likes);
    };
    show();
    button.addEventListener("click", async () => {
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      error.textContent = "";
      const want = !liked;
      try {
        const token = await recaptchaToken(LIKE_COMMENT);
        const { body } = await api(want ? "PUT" : "DELETE", commentLikePath(comment.id), token);
        const now = body.userLike === true;
        if (now !== liked) likes = Math.max(0, likes + (now ? 1 : -1));
        liked = now;
        show();
      } catch (failure) {
        error.textContent = explainCommentError(failure, "like");
      } finally {
        button.removeAttribute("aria-busy");
      }
    });
  }

  async post(form, parentId, list) {
    const input = form.querySelector("textarea");
    const submit = form.querySelector("button");
    const error = form.querySelector(".comment-error");
    const content = input.value.trim();
    error.textContent = "";
    if (!content) {
      error.textContent = "Write something first.";
      return;
    }
    submit.disabled = true;
    try {
      const token = await recaptchaToken(POST_COMMENT);
      const body = parentId ? { content, parentId } : { content };
      const { body: comment } = await api("POST", commentsPath(this.videoId), token, body);
      if (parentId) list.append(this.element(comment, false));
      else list.prepend(this.element(comment, true));
      input.value = "";
      if (parentId) form.hidden = true;
      this.count(this.total + 1);
    } catch (failure) {
      error.textContent = explainCommentError(failure, parentId ? "reply" : "comment");
    } finally {
      submit.disabled = false;
    }
  }
}

// --- loading the catalogue ---------------------------------------------------------------

let nextPage = `/api/videos?limit=${PAGE_SIZE}`;

async function loadNextPage() {
  moreButton.hidden = true;
  statusLine.textContent = "Loading videos…";
  let videos;
  try {
    const { body, response } = await api("GET", nextPage);
    videos = body.filter((video) => !cards.has(video.id));
    nextPage = nextPageFrom(response);
  } catch (error) {
    statusLine.textContent = `The videos could not be loaded (${error.status || "no connection"}).`;
    moreButton.textContent = "Try again";
    moreButton.hidden = false;
    return;
  }

  let liked = new Map();
  let note = "";
  try {
    liked = await userLikes(videos.map((video) => video.id));
  } catch (error) {
    note = ` Your likes could not be loaded (${error.status || "no connection"}), so they show as not liked.`;
  }
  const fragment = document.createDocumentFragment();
  for (const video of videos) {
    const card = new Card(video, liked.get(video.id) === true);
    cards.set(video.id, card);
    fragment.append(card.element);
  }
  grid.append(fragment);

  const shown = cards.size ? plural(cards.size, "video", "videos") : "No videos yet.";
  statusLine.textContent = shown + note;
  moreButton.textContent = "Load more videos";
  moreButton.hidden = nextPage === null;
}

moreButton.addEventListener("click", loadNextPage);
if (siteKey) {
  // Loaded with the page so reCAPTCHA v3 can score the visit; a failure shows on the first write.
  loadRecaptcha().catch(() => {});
}
loadNextPage();

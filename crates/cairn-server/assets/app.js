// cairn's web UI script: progressive enhancement only (every page works without it).
// - [data-job-events=ID]: live progress of a job by Server-Sent Events.
// - form[data-confirm]: ask before a destructive action.
"use strict";

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function formatSeconds(s) {
  if (s == null) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
}

function watchJob(element) {
  const id = element.dataset.jobEvents;
  const bar = element.querySelector("progress");
  const text = element.querySelector(".progress-text");
  const state = document.querySelector(`[data-job-state="${id}"]`);
  const source = new EventSource(`/api/v1/jobs/${id}/events`);
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data).progress || {};
    const percent = Math.round((p.percent_done || 0) * 100);
    if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
    if (text) {
      const parts = [`${percent}%`];
      if (p.bytes_total != null) parts.push(`${formatBytes(p.bytes_done)} of ${formatBytes(p.bytes_total)}`);
      else if (p.bytes_done) parts.push(formatBytes(p.bytes_done));
      if (p.rate_bytes_per_second) parts.push(formatBytes(p.rate_bytes_per_second) + "/s");
      if (p.eta_seconds != null) parts.push("ETA " + formatSeconds(p.eta_seconds));
      text.textContent = parts.join(" · ");
    }
  });
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data).job;
    if (state) { state.textContent = job.state; state.className = "badge " + job.state; }
    if (job.state !== "queued" && job.state !== "running") {
      if (job.state === "succeeded" && bar) { bar.value = 100; bar.textContent = "100%"; }
      if (text && job.state === "succeeded") text.textContent = "100% · done";
      source.close();
    }
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) source.close(); };
}

document.querySelectorAll("[data-job-events]").forEach(watchJob);
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

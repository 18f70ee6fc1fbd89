// Times for people: forms are read in the browser's own time zone, and <time data-local> elements that
// the server wrote in UTC are shown in it. Without this script both stay in UTC, as the labels then say.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  for (const input of document.querySelectorAll('input[type="hidden"][name="tz"]')) input.value = zone;
  for (const label of document.querySelectorAll("[data-tz-name]")) label.textContent = zone;
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  for (const time of document.querySelectorAll("time[data-local]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.title = time.textContent;  // the UTC form stays one hover away
      time.textContent = format.format(moment);
    }
  }
});

// play.js -- plays HLS playlists to the end in a real player: hls.js in
// Debian's headless Chromium (/usr/bin/chromium), driven by playwright-core.
// Used by tests/e2e_player.sh; never downloads a browser.
//
//   node play.js --hls FILE --serve DIR [--rate R] [--stuck-s S] PATH...
//
// Serves DIR on 127.0.0.1 (a port the system picks) together with hls.js
// (FILE, its dist/hls.min.js) and a blank page, opens that page in a fresh
// Chromium profile, and for each PATH (a playlist under DIR) attaches hls.js
// to a muted <video>, seeks to the start of the first buffered data, plays
// at rate R (1 by default) and waits for the end: `ended`, or no progress of currentTime for S wall-clock seconds (5 by
// default: a stall that does not resolve), or twice the playlist's length
// at rate R plus 30 s. Prints one JSON line per PATH:
//   {path, startedAt, ended, endedAt, stuck, timedOut, currentTime, duration,
//    decodedFrames, droppedFrames, waiting: [{at, ahead, ms}...],
//    errors: [{type, details, fatal, at}], buffered: [[start, end]...]}
// `waiting` holds each `waiting` event after playback began: the
// currentTime it came at, the seconds buffered ahead of it without a hole,
// and how long (wall-clock ms) until `playing` or the end; `errors` every
// hls.js ERROR event (BUFFER_STALLED_ERROR included,
// which hls.js raises when playback stops with data it cannot reach);
// decodedFrames is getVideoPlaybackQuality().totalVideoFrames (frames the
// decoder produced, shown or dropped). Exits 0 when every PATH was played
// (whatever happened while playing), 1 on a harness error.
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const TYPES = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.js': 'text/javascript',
  '.html': 'text/html',
};

function parseArgs(argv) {
  const o = { rate: 1, stuckS: 5, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--hls') o.hls = argv[++i];
    else if (a === '--serve') o.serve = path.resolve(argv[++i]);
    else if (a === '--rate') o.rate = Number(argv[++i]);
    else if (a === '--stuck-s') o.stuckS = Number(argv[++i]);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.paths.push(a);
  }
  if (!o.hls || !o.serve || o.paths.length === 0 || !(o.rate > 0)) {
    throw new Error('usage: play.js --hls FILE --serve DIR [--rate R] [--stuck-s S] PATH...');
  }
  return o;
}

// serve(o): an HTTP server on 127.0.0.1 for /hls.js, /player.html and
// /media/<file under DIR>. Resolves to the server once it listens.
function serve(o) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = null;
    if (url.pathname === '/hls.js') file = o.hls;
    else if (url.pathname.startsWith('/media/')) {
      file = path.resolve(o.serve, decodeURIComponent(url.pathname.slice('/media/'.length)));
      if (!file.startsWith(o.serve + path.sep)) file = null;
    }
    if (url.pathname === '/player.html') {
      res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-store' });
      res.end('<!doctype html><html><body><script src="/hls.js"></script></body></html>');
      return;
    }
    fs.readFile(file || '/nonexistent', (err, data) => {
      if (err) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
        'Content-Length': data.length,
        'Cache-Control': 'no-store',
      });
      res.end(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Runs in the page: plays src to its end and reports what happened.
async function playInPage({ src, rate, stuckMs, limitMs }) {
  /* global Hls, document */
  const video = document.createElement('video');
  video.muted = true;
  document.body.appendChild(video);
  const r = { ended: false, endedAt: null, stuck: false, timedOut: false, waiting: [], errors: [] };
  let started = false;
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, d) => {
    r.errors.push({ type: d.type, details: d.details, fatal: d.fatal, at: video.currentTime });
  });
  // Seconds of media buffered from currentTime on without a hole (0 when
  // currentTime is in no buffered range).
  const bufferedAhead = () => {
    const b = video.buffered;
    const t = video.currentTime;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= t && t < b.end(i)) return b.end(i) - t;
    }
    return 0;
  };
  let open = null; // the `waiting` event not yet followed by `playing`
  const close = () => {
    if (open) open.ms = Math.round(performance.now() - open.since);
    if (open) delete open.since;
    open = null;
  };
  video.addEventListener('playing', () => { started = true; close(); });
  video.addEventListener('waiting', () => {
    if (!started || open) return;
    open = { at: video.currentTime, ahead: bufferedAhead(), since: performance.now() };
    r.waiting.push(open);
  });
  video.addEventListener('ended', () => { r.ended = true; r.endedAt = video.currentTime; close(); });
  const parsed = new Promise((resolve) => hls.once(Hls.Events.MANIFEST_PARSED, resolve));
  hls.loadSource(src);
  hls.attachMedia(video);
  await Promise.race([parsed, new Promise((resolve) => setTimeout(resolve, 20000))]);
  // Start where the media starts: the first frame sits a little after 0
  // (B-frames delay it), and left to itself hls.js jumps that hole once
  // playing, at a moment that varies, and the decoder's frame count with it
  // (it re-decodes after a seek). So: wait for the first data and let the
  // decoder settle, seek to the start of the buffer, let it settle again,
  // then play. The same steps for every playlist.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let i = 0; i < 200 && video.buffered.length === 0; i++) await sleep(100);
  await sleep(1000);
  if (video.buffered.length > 0 && video.buffered.start(0) > video.currentTime) {
    const seeked = new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
    video.currentTime = video.buffered.start(0);
    await Promise.race([seeked, sleep(10000)]);
  }
  await sleep(1000);
  r.startedAt = video.currentTime;
  video.playbackRate = rate;
  video.defaultPlaybackRate = rate;
  try {
    await video.play();
  } catch (e) {
    r.errors.push({ type: 'play', details: String(e), fatal: true, at: video.currentTime });
  }
  const begin = Date.now();
  let last = -1;
  let lastMoved = Date.now();
  while (!r.ended) {
    await sleep(100);
    if (video.currentTime !== last) {
      last = video.currentTime;
      lastMoved = Date.now();
    } else if (Date.now() - lastMoved > stuckMs) {
      r.stuck = true;
      break;
    }
    if (Date.now() - begin > limitMs) {
      r.timedOut = true;
      break;
    }
  }
  close();
  const q = video.getVideoPlaybackQuality();
  r.currentTime = video.currentTime;
  r.duration = video.duration;
  r.decodedFrames = q.totalVideoFrames;
  r.droppedFrames = q.droppedVideoFrames;
  r.buffered = [];
  for (let i = 0; i < video.buffered.length; i++) {
    r.buffered.push([video.buffered.start(i), video.buffered.end(i)]);
  }
  hls.destroy();
  video.remove();
  return r;
}

// The playlist's length: the sum of its #EXTINF durations.
function playlistSeconds(file) {
  return fs.readFileSync(file, 'utf8').split('\n')
    .filter((l) => l.startsWith('#EXTINF:'))
    .reduce((s, l) => s + parseFloat(l.slice('#EXTINF:'.length)), 0);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const server = await serve(o);
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ffpool-player-'));
  let context = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--autoplay-policy=no-user-gesture-required'],
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => process.stderr.write(`play.js: page error: ${e}\n`));
    await page.goto(`${base}/player.html`);
    for (const p of o.paths) {
      const seconds = playlistSeconds(path.join(o.serve, p));
      const limitMs = Math.round((2 * seconds / o.rate + 30) * 1000);
      const r = await page.evaluate(playInPage, {
        src: `${base}/media/${p}`, rate: o.rate, stuckMs: o.stuckS * 1000, limitMs,
      });
      process.stdout.write(JSON.stringify({ path: p, ...r }) + '\n');
    }
  } finally {
    if (context) await context.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`play.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

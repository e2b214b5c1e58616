// Opens a study in the OHIF viewer (headless Debian chromium via puppeteer-core), loads the SR
// and a SEG the way a user does (double-click in the study browser, "Yes" to the viewer's offer
// to track the report's measurements) and reports, as JSON on stdout, what the page shows: the
// SR's drawn annotations, the measurements listed, the segments listed, the page errors.
// Screenshots go to the folder given. Used by tests/reporting/test_ohif.py.
//
//   node ohif_check.mjs <viewer url> <StudyInstanceUID> <screenshot dir> <SR series description> <SEG series description or -> [<PDF series description>]
import puppeteer from 'puppeteer-core';

const [base, studyUid, shots, srName, segName, pdfName = '-'] = process.argv.slice(2);
class Done extends Error {}
const sleep = ms => new Promise(r => setTimeout(r, ms));
const out = {pageErrors: [], errors: [], warnings: [], sr: null, seg: null, screenshots: []};
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-dev-shm-usage'],
  defaultViewport: {width: 1600, height: 1000},
});
try {
  const page = await browser.newPage();
  page.on('pageerror', e => out.pageErrors.push(String(e.message).slice(0, 500)));
  page.on('console', m => {
    if (m.type() === 'error') out.errors.push(m.text().slice(0, 500));
    if (m.type() === 'warn') out.warnings.push(m.text().slice(0, 300));
  });
  await page.goto(`${base}/viewer?StudyInstanceUIDs=${studyUid}`, {waitUntil: 'networkidle2', timeout: 90000});
  await page.waitForFunction(
    names => window.services && names.every(n => n === '-' || window.services.displaySetService.getActiveDisplaySets()
      .some(d => d.SeriesDescription === n)), {timeout: 90000}, [srName, segName]);
  await sleep(1500);
  const skip = await page.$('xpath/.//*[text()="Skip all"]');  // the first-visit tour
  if (skip) await skip.click();

  const shot = async name => {
    const path = `${shots}/${name}.png`;
    await page.screenshot({path});
    out.screenshots.push(path);
  };
  // double-click the series in the study browser, as a user does
  const open = async description => {
    const box = await page.evaluate(d => {
      const item = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().width > 0
        && (e.textContent.trim() === d || e.getAttribute('title') === d)).pop();
      if (!item) return null;
      const r = item.getBoundingClientRect();
      return {x: r.x + r.width / 2, y: r.y + r.height / 2};
    }, description);
    if (!box) throw new Error(`series "${description}" not in the study browser`);
    await page.mouse.click(box.x, box.y, {count: 2});
  };

  // --- SR: drawn annotations (DICOMSRDisplay) and their labels ------------------------------
  await open(srName);
  await page.waitForFunction(n => window.services.displaySetService.getActiveDisplaySets()
    .some(d => d.SeriesDescription === n && d.isLoaded), {timeout: 30000}, srName).catch(() => null);
  const anyDrawn = await page.waitForFunction(() => window.cornerstoneTools.annotation.state.getAllAnnotations()
    .some(a => a.metadata.toolName === 'DICOMSRDisplay'), {timeout: 10000}).then(() => true, () => false);
  await sleep(3000);
  const annotations = () => page.evaluate(() => window.cornerstoneTools.annotation.state.getAllAnnotations()
    .filter(a => a.metadata.toolName === 'DICOMSRDisplay').map(a => ({
      uid: a.annotationUID, image: a.metadata.referencedImageId,
      graphics: Object.fromEntries(Object.entries(a.data.renderableData || {}).map(([t, v]) => [t, v.length])),
      labels: (a.data.labels || []).map(l => `${l.label}: ${l.value}`),
    })));
  const viewportState = () => page.evaluate(() => {
    const s = window.services;
    const id = s.viewportGridService.getActiveViewportId();
    const vp = s.cornerstoneViewportService.getCornerstoneViewport(id);
    const svg = [...document.querySelectorAll('svg text')].map(t => t.textContent).filter(Boolean);
    return {imageId: vp && vp.getCurrentImageId ? vp.getCurrentImageId() : null, svgText: svg};
  });
  const srDisplaySet = await page.evaluate(n => {
    const d = window.services.displaySetService.getActiveDisplaySets().find(x => x.SeriesDescription === n);
    return {isLoaded: d.isLoaded, measurements: (d.measurements || []).length,
      loaded: (d.measurements || []).filter(m => m.loaded).length,
      identifiers: (d.measurements || []).map(m => m.TrackingIdentifier)};
  }, srName);
  const drawn = await annotations();
  await shot('ohif_sr_sagittal');
  // the viewer offers to track (hydrate) the report's measurements: accept, as a user would
  const yes = await page.waitForSelector('xpath/.//button[normalize-space()="Yes"]', {timeout: anyDrawn ? 12000 : 3000}).catch(() => null);
  if (yes) await yes.click();
  await page.waitForFunction(() => window.services.measurementService.getMeasurements().length > 0,
    {timeout: yes ? 30000 : 1000}).catch(() => null);
  await sleep(2500);
  const tab = await page.$('[data-cy="trackedMeasurements-btn"]');
  if (tab) { await tab.click(); await sleep(1500); }
  const listed = await page.evaluate(() => window.services.measurementService.getMeasurements().map(m => ({
    uid: m.uid, toolName: m.toolName, label: m.label, image: m.referencedImageId,
    displayText: m.displayText ? JSON.stringify(m.displayText) : '',
  })));
  const panel = await page.evaluate(() => document.body.innerText.match(/Measurements \((\d+)\)/)?.[0] || null);
  const tracked = await viewportState();
  await shot('ohif_measurements');
  // jump to a muscle outline (on an axial image) through the viewer's own navigation
  let axial = null;
  const outline = listed.find(m => m.toolName === 'PlanarFreehandROI');
  if (outline) {
    await page.evaluate(uid => {
      const s = window.services;
      s.measurementService.jumpToMeasurement(s.viewportGridService.getActiveViewportId(), uid);
    }, outline.uid);
    await sleep(4000);
    axial = await viewportState();
    await shot('ohif_csa_axial');
  }
  out.sr = {displaySet: srDisplaySet, annotations: drawn, listed, panel, tracked, axial,
    prompted: Boolean(yes)};

  // --- SEG: segments listed in the Segmentation panel ("-": no SEG) -----------------------
  if (segName === '-') throw new Done();
  await open(segName);
  await page.waitForFunction(() => window.services.segmentationService.getSegmentations().length > 0,
    {timeout: 60000}).catch(() => null);
  await sleep(2000);
  const promptYes = await page.$('xpath/.//button[normalize-space()="Yes"]');
  if (promptYes) { await promptYes.click(); await sleep(2000); }
  const segTab = await page.$('[data-cy="panelSegmentation-btn"]');
  if (segTab) { await segTab.click(); await sleep(1500); }
  out.seg = await page.evaluate(() => {
    const segs = window.services.segmentationService.getSegmentations();
    return {segmentations: segs.map(s => ({label: s.label,
      segments: Object.values(s.segments || {}).filter(Boolean).map(x => x.label)})),
      panelText: document.body.innerText};
  });
  await shot('ohif_seg');

  // --- Encapsulated PDF: shown in its viewport --------------------------------------------
  if (pdfName !== '-') {
    await open(pdfName);
    await page.waitForFunction(() => document.querySelector('object[data], iframe[src], embed[src]'),
      {timeout: 30000}).catch(() => null);
    await sleep(3000);
    out.pdf = await page.evaluate(async () => {
      const e = document.querySelector('object[data], iframe[src], embed[src]');
      if (!e) return null;
      const url = e.data || e.src;
      const r = await fetch(url);
      const head = new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5));
      return {status: r.status, head, blob: url.startsWith('blob:')};
    });
    await shot('ohif_pdf');
  }
} catch (e) {
  if (!(e instanceof Done)) out.errors.push(`driver: ${e.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

// Opens a study in the OHIF viewer (headless Debian chromium via puppeteer-core), loads the SR
// and a SEG the way a user does (double-click in the study browser) and reports, as JSON on
// stdout, what the page shows: the SR's drawn annotations with their labels, the segments
// listed, the page errors. Screenshots go to the folder given. Used by test_ohif.py.
//
//   node ohif_check.mjs <viewer url> <StudyInstanceUID> <screenshot dir> <SR series description> <SEG series description>
import puppeteer from 'puppeteer-core';

const [base, studyUid, shots, srName, segName] = process.argv.slice(2);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const out = {errors: [], warnings: [], sr: null, seg: null, screenshots: []};
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-dev-shm-usage'],
  defaultViewport: {width: 1600, height: 1000},
});
try {
  const page = await browser.newPage();
  page.on('pageerror', e => out.errors.push(String(e.message).slice(0, 500)));
  page.on('console', m => {
    if (m.type() === 'error') out.errors.push(m.text().slice(0, 500));
    if (m.type() === 'warn') out.warnings.push(m.text().slice(0, 300));
  });
  await page.goto(`${base}/viewer?StudyInstanceUIDs=${studyUid}`, {waitUntil: 'networkidle2', timeout: 90000});
  await page.waitForFunction(
    names => window.services && names.every(n => window.services.displaySetService.getActiveDisplaySets()
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
  await page.waitForFunction(() => window.cornerstoneTools.annotation.state.getAllAnnotations()
    .some(a => a.metadata.toolName === 'DICOMSRDisplay'), {timeout: 60000}).catch(() => null);
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
  const first = await viewportState();
  await shot('ohif_sr_sagittal');
  // step through the findings with the SR viewport's "next" arrow until an axial image shows
  const all = await annotations();
  const axialImages = new Set(all.filter(a => a.labels.some(l => l.startsWith('Area:'))).map(a => a.image));
  let axial = null;
  for (let i = 0; i < 60 && !axial; i++) {
    const next = await page.$('[data-cy="viewport-action-arrows-right"] svg');
    if (!next) { out.errors.push('driver: no next-measurement arrow'); break; }
    await next.click();
    await sleep(400);
    const v = await viewportState();
    out.visited = (out.visited || []).concat([v.imageId ? v.imageId.slice(-20) : null]);
    if (axialImages.has(v.imageId)) axial = v;
  }
  if (axial) {
    await sleep(1500);
    axial = await viewportState();
    await shot('ohif_sr_axial');
  }
  out.sr = {displaySet: srDisplaySet, annotations: all, first, axial,
    panel: await page.evaluate(() => document.body.innerText.match(/Measurements \(\d+\)/)?.[0] || null)};

  // --- SEG: segments listed in the Segmentation panel --------------------------------------
  await open(segName);
  await page.waitForFunction(() => window.services.segmentationService.getSegmentations().length > 0,
    {timeout: 60000}).catch(() => null);
  await sleep(2000);
  const promptYes = await page.$('xpath/.//button[normalize-space()="Yes"]');
  if (promptYes) { await promptYes.click(); await sleep(2000); }
  const tab = await page.$('[data-cy="panelSegmentation-btn"]');
  if (tab) { await tab.click(); await sleep(1500); }
  out.seg = await page.evaluate(() => {
    const segs = window.services.segmentationService.getSegmentations();
    return {segmentations: segs.map(s => ({label: s.label,
      segments: Object.values(s.segments || {}).filter(Boolean).map(x => x.label)})),
      panelText: document.body.innerText};
  });
  await shot('ohif_seg');
} catch (e) {
  out.errors.push(`driver: ${e.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

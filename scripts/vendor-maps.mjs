#!/usr/bin/env node
// Turns the China maps shipped in the npm package echarts@4.9.0
// (map/json/china.json and map/json/province/*.json, in ECharts' compressed
// "UTF8Encoding" form) into plain RFC 7946 GeoJSON for the web console.
//
//   node scripts/vendor-maps.mjs <unpacked echarts@4.9.0 package dir> <output maps dir>
//
// Called by scripts/vendor-assets.sh; uses nothing but Node's standard library.
//
// Output, one FeatureCollection per file, one feature per line:
//   100000.json       the provinces / regions of China (34 features)
//   <province>.json   the prefecture-level divisions of one province (for the
//                     four municipalities and for Hong Kong / Macau: districts)
// Every feature has properties {name, adcode, cp}: name as in GB/T 2260 for the
// provinces (the source only has short names such as "山东"), the source's name
// below that level; adcode the 6-digit division code as a string; cp the
// source's label anchor [lon, lat], which ECharts uses to place a region's label.
//
// The compressed form: each ring is a string of UTF-16 code units, two per
// vertex (x then y). A code unit minus 64 is a zigzag-encoded integer
// (0,1,2,3,4 -> 0,-1,1,-2,2); integers are deltas from the previous vertex,
// the first from the ring's encodeOffsets pair; the running integer divided by
// the scale (UTF8Scale, 1024 when absent) is the longitude / latitude.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DECIMALS = 4;
// Simplification tolerance: a file's larger extent (degrees) divided by this,
// i.e. below a pixel even when the file's map is drawn 2000 pixels wide.
const SIMPLIFY_DIVISOR = 2000;
// Everything decoded must fall inside this box, or the decoding is wrong.
const LON_MIN = 73, LON_MAX = 136, LAT_MIN = 3, LAT_MAX = 54;

// GB/T 2260 province-level divisions: code, full name, source file under
// map/json/province/ in echarts@4.9.0.
const PROVINCES = [
  ['110000', '北京市', 'beijing'],
  ['120000', '天津市', 'tianjin'],
  ['130000', '河北省', 'hebei'],
  ['140000', '山西省', 'shanxi'],
  ['150000', '内蒙古自治区', 'neimenggu'],
  ['210000', '辽宁省', 'liaoning'],
  ['220000', '吉林省', 'jilin'],
  ['230000', '黑龙江省', 'heilongjiang'],
  ['310000', '上海市', 'shanghai'],
  ['320000', '江苏省', 'jiangsu'],
  ['330000', '浙江省', 'zhejiang'],
  ['340000', '安徽省', 'anhui'],
  ['350000', '福建省', 'fujian'],
  ['360000', '江西省', 'jiangxi'],
  ['370000', '山东省', 'shandong'],
  ['410000', '河南省', 'henan'],
  ['420000', '湖北省', 'hubei'],
  ['430000', '湖南省', 'hunan'],
  ['440000', '广东省', 'guangdong'],
  ['450000', '广西壮族自治区', 'guangxi'],
  ['460000', '海南省', 'hainan'],
  ['500000', '重庆市', 'chongqing'],
  ['510000', '四川省', 'sichuan'],
  ['520000', '贵州省', 'guizhou'],
  ['530000', '云南省', 'yunnan'],
  ['540000', '西藏自治区', 'xizang'],
  ['610000', '陕西省', 'shanxi1'],
  ['620000', '甘肃省', 'gansu'],
  ['630000', '青海省', 'qinghai'],
  ['640000', '宁夏回族自治区', 'ningxia'],
  ['650000', '新疆维吾尔自治区', 'xinjiang'],
  ['710000', '台湾省', 'taiwan'],
  ['810000', '香港特别行政区', 'xianggang'],
  ['820000', '澳门特别行政区', 'aomen'],
];

// Taiwan's sub-divisions have no GB/T 2260 codes and no ids in the source:
// they carry the province's code. (台湾 in china.json already includes the
// Diaoyu Islands, so ECharts' own 钓鱼岛 fix, which the full name 台湾省 no
// longer triggers, is not needed.)
const PARENT_CODE_ONLY = new Set(['710000']);
// Left out of the outline cross-check at the end: 海南省's divisions include
// 三沙市 (South China Sea islands, which china.json leaves to ECharts'
// 南海诸岛 inset); 台湾省's include 金门县 and 连江县, which its outline in
// china.json does not.
const CROSS_CHECK_EXEMPT = new Set(['460000', '710000']);

function fail(msg) {
  throw new Error(`vendor-maps: ${msg}`);
}

function decodeRing(encoded, offsets, scale, where) {
  if (typeof encoded !== 'string') fail(`${where}: ring is not a string`);
  if (encoded.length % 2 !== 0) fail(`${where}: odd ring length ${encoded.length}`);
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${where}: bad encodeOffsets`);
  let x = offsets[0];
  let y = offsets[1];
  const ring = [];
  for (let i = 0; i < encoded.length; i += 2) {
    const zx = encoded.charCodeAt(i) - 64;
    const zy = encoded.charCodeAt(i + 1) - 64;
    if (zx < 0 || zy < 0) fail(`${where}: code unit below 64 at ${i}`);
    x += (zx >>> 1) ^ -(zx & 1);
    y += (zy >>> 1) ^ -(zy & 1);
    ring.push([x / scale, y / scale]);
  }
  return ring;
}

// -> array of polygons, each an array of rings, each an array of [lon, lat]
function decodeGeometry(geometry, encoded, scale, where) {
  const { type, coordinates } = geometry;
  let polygons;
  if (type === 'Polygon') polygons = [coordinates];
  else if (type === 'MultiPolygon') polygons = coordinates;
  else fail(`${where}: unexpected geometry type ${type}`);
  if (!encoded) return polygons;
  const offsets = type === 'Polygon' ? [geometry.encodeOffsets] : geometry.encodeOffsets;
  if (!Array.isArray(offsets) || offsets.length !== polygons.length) {
    fail(`${where}: encodeOffsets do not match the polygons`);
  }
  return polygons.map((rings, p) =>
    rings.map((ring, r) => decodeRing(ring, offsets[p][r], scale, `${where} polygon ${p} ring ${r}`)),
  );
}

const round = (v) => Number(v.toFixed(DECIMALS)) + 0; // + 0 turns -0 into 0

// Twice the signed area (shoelace); > 0 for a counter-clockwise ring.
function signedArea2(ring) {
  let a = 0;
  for (let i = 0, n = ring.length; i < n - 1; i++) {
    a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  }
  return a;
}

// Rounds, drops repeated vertices, closes the ring, checks the bounds and
// winds it as RFC 7946 asks (exterior counter-clockwise, holes clockwise).
// Returns null for a ring that has no area left.
function cleanRing(ring, exterior, where) {
  const out = [];
  for (const [lon, lat] of ring) {
    if (!(lon >= LON_MIN && lon <= LON_MAX && lat >= LAT_MIN && lat <= LAT_MAX)) {
      fail(`${where}: vertex [${lon}, ${lat}] is outside China's box; the decoding is wrong`);
    }
    const v = [round(lon), round(lat)];
    const last = out[out.length - 1];
    if (!last || last[0] !== v[0] || last[1] !== v[1]) out.push(v);
  }
  if (out.length > 1) {
    const [f, l] = [out[0], out[out.length - 1]];
    if (f[0] !== l[0] || f[1] !== l[1]) out.push([f[0], f[1]]);
  }
  if (out.length < 4) return null;
  const area = signedArea2(out);
  if (area === 0) return null;
  if (exterior ? area < 0 : area > 0) out.reverse();
  return out;
}

function cleanPolygons(polygons, where) {
  const out = [];
  polygons.forEach((rings, p) => {
    const cleaned = [];
    for (let r = 0; r < rings.length; r++) {
      const c = cleanRing(rings[r], r === 0, `${where} polygon ${p} ring ${r}`);
      if (r === 0 && !c) break; // no exterior left: the holes go with it
      if (c) cleaned.push(c);
    }
    if (cleaned.length > 0) out.push(cleaned);
  });
  return out;
}

function geometryOf(polygons) {
  return polygons.length === 1
    ? { type: 'Polygon', coordinates: polygons[0] }
    : { type: 'MultiPolygon', coordinates: polygons };
}

function bbox(polygons) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const rings of polygons) {
    for (const [lon, lat] of rings[0]) {
      b[0] = Math.min(b[0], lon);
      b[1] = Math.min(b[1], lat);
      b[2] = Math.max(b[2], lon);
      b[3] = Math.max(b[3], lat);
    }
  }
  return b;
}

// Douglas-Peucker on an open sequence; always keeps both ends.
function douglasPeucker(points, eps) {
  const n = points.length;
  if (n < 3) return points.slice();
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  const stack = [[0, n - 1]];
  while (stack.length > 0) {
    const [a, b] = stack.pop();
    const [ax, ay] = points[a];
    const [bx, by] = points[b];
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    let far = -1;
    let farDist = 0;
    for (let i = a + 1; i < b; i++) {
      const [px, py] = points[i];
      let t = len2 === 0 ? 0 : ((px - ax) * dx + (py - ay) * dy) / len2;
      t = Math.max(0, Math.min(1, t));
      const d = Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
      if (d > farDist) {
        farDist = d;
        far = i;
      }
    }
    if (far >= 0 && farDist > eps) {
      keep[far] = 1;
      stack.push([a, far], [far, b]);
    }
  }
  return points.filter((_, i) => keep[i] === 1);
}

const vkey = (v) => `${v[0]},${v[1]}`;

// Simplifies a sequence the same way whichever direction it is walked in, so
// that a border shared by two rings stays shared.
function simplifyArc(arc, eps) {
  const first = vkey(arc[0]);
  const last = vkey(arc[arc.length - 1]);
  const flip = first > last || (first === last && arc.length > 2 && vkey(arc[1]) > vkey(arc[arc.length - 2]));
  if (!flip) return douglasPeucker(arc, eps);
  return douglasPeucker(arc.slice().reverse(), eps).reverse();
}

// Topology-preserving simplification of all rings of a file: rings are cut
// into arcs at junctions (vertices whose neighbours differ between the rings
// that pass through them, as TopoJSON does), each arc is simplified on its own.
function simplifyFeatures(features) {
  const rings = [];
  for (const f of features) {
    for (const polygon of polygonsOf(f.geometry)) {
      for (let r = 0; r < polygon.length; r++) rings.push({ polygon, r });
    }
  }
  const box = bbox(features.flatMap((f) => polygonsOf(f.geometry)));
  const eps = Math.max(box[2] - box[0], box[3] - box[1]) / SIMPLIFY_DIVISOR;

  const neighbours = new Map(); // vertex -> {pair, junction}
  for (const { polygon, r } of rings) {
    const ring = polygon[r];
    const n = ring.length - 1; // closed: the last vertex repeats the first
    for (let i = 0; i < n; i++) {
      const a = vkey(ring[(i - 1 + n) % n]);
      const b = vkey(ring[(i + 1) % n]);
      const pair = a < b ? `${a};${b}` : `${b};${a}`;
      const k = vkey(ring[i]);
      const seen = neighbours.get(k);
      if (!seen) neighbours.set(k, { pair, junction: false });
      else if (seen.pair !== pair) seen.junction = true;
    }
  }

  let before = 0;
  let after = 0;
  for (const { polygon, r } of rings) {
    const ring = polygon[r];
    const verts = ring.slice(0, -1);
    const n = verts.length;
    const start = verts.findIndex((v) => neighbours.get(vkey(v)).junction);
    let out;
    if (start < 0) {
      // No junction: a loop of its own (an island, or an enclave's border).
      // Start at its smallest vertex, walk towards the smaller neighbour.
      let min = 0;
      for (let i = 1; i < n; i++) if (vkey(verts[i]) < vkey(verts[min])) min = i;
      const forward = vkey(verts[(min + 1) % n]) <= vkey(verts[(min - 1 + n) % n]);
      const seq = [];
      for (let i = 0; i <= n; i++) seq.push(verts[(((forward ? min + i : min - i) % n) + n) % n]);
      out = douglasPeucker(seq, eps);
      if (!forward) out.reverse();
    } else {
      const rotated = verts.slice(start).concat(verts.slice(0, start));
      rotated.push(rotated[0]);
      out = [rotated[0]];
      let from = 0;
      for (let i = 1; i < rotated.length; i++) {
        if (i === rotated.length - 1 || neighbours.get(vkey(rotated[i])).junction) {
          out.push(...simplifyArc(rotated.slice(from, i + 1), eps).slice(1));
          from = i;
        }
      }
    }
    // Keep the original ring where simplifying would collapse or turn it.
    const area = signedArea2(out);
    if (out.length >= 4 && area !== 0 && Math.sign(area) === Math.sign(signedArea2(ring))) {
      polygon[r] = out;
    }
    before += ring.length;
    after += polygon[r].length;
  }
  return { before, after };
}

function readSource(path) {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  if (json.type !== 'FeatureCollection' || !Array.isArray(json.features)) {
    fail(`${path}: not a FeatureCollection`);
  }
  const scale = json.UTF8Scale ?? 1024;
  return json.features.map((f, i) => ({
    source: f,
    polygons: decodeGeometry(f.geometry, json.UTF8Encoding === true, scale, `${path} feature ${i}`),
  }));
}

function feature(name, adcode, cp, polygons) {
  const properties = { name, adcode };
  if (cp) properties.cp = [round(cp[0]), round(cp[1])];
  return { type: 'Feature', properties, geometry: geometryOf(polygons) };
}

function writeCollection(path, features) {
  const body = features.map((f) => JSON.stringify(f)).join(',\n');
  writeFileSync(path, `{"type":"FeatureCollection","features":[\n${body}\n]}\n`);
}

function byAdcode(a, b) {
  return a.properties.adcode < b.properties.adcode ? -1 : a.properties.adcode > b.properties.adcode ? 1 : 0;
}

function main() {
  const [pkgDir, outDir] = process.argv.slice(2);
  if (!pkgDir || !outDir) fail('usage: vendor-maps.mjs <echarts@4.9.0 package dir> <output dir>');
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  if (pkg.name !== 'echarts' || pkg.version !== '4.9.0') fail(`expected echarts@4.9.0, got ${pkg.name}@${pkg.version}`);
  mkdirSync(outDir, { recursive: true });

  const fullName = new Map(PROVINCES.map(([code, name]) => [code, name]));
  const provinceBox = new Map();
  const vertices = { before: 0, after: 0 };
  const count = ({ before, after }) => {
    vertices.before += before;
    vertices.after += after;
  };

  for (const [code, , file] of PROVINCES) {
    const where = `province/${file}.json`;
    const prefix = code.slice(0, 2);
    const merged = new Map(); // "adcode name" -> {name, adcode, cp, polygons}
    const pending = [];
    for (const { source, polygons } of readSource(join(pkgDir, 'map/json/province', `${file}.json`))) {
      const name = source.properties?.name;
      if (!name) fail(`${where}: feature without a name`);
      const id = source.id ?? source.properties?.id ?? source.geometry?.id;
      const cleaned = cleanPolygons(polygons, `${where} ${name}`);
      let adcode;
      if (id != null) adcode = String(id);
      else if (PARENT_CODE_ONLY.has(code)) adcode = code;
      else {
        pending.push({ name, cp: source.properties?.cp, polygons: cleaned });
        continue;
      }
      if (!/^\d{6}$/.test(adcode) || !adcode.startsWith(prefix)) fail(`${where}: ${name} has code ${adcode}`);
      const key = `${adcode} ${name}`;
      const entry = merged.get(key);
      if (entry) {
        entry.polygons.push(...cleaned);
        entry.cp ??= source.properties?.cp;
      } else {
        merged.set(key, { name, adcode, cp: source.properties?.cp, polygons: cleaned });
      }
    }
    // A feature with no id joins the one feature of the same name that has one
    // (xizang.json: 山南市 comes as an empty 540500 plus an id-less shape).
    for (const p of pending) {
      const same = [...merged.values()].filter((e) => e.name === p.name);
      if (same.length !== 1) fail(`${where}: ${p.name} has no id and no single namesake`);
      same[0].polygons.push(...p.polygons);
      same[0].cp ??= p.cp;
    }
    const features = [...merged.values()].map((e) => {
      if (e.polygons.length === 0) fail(`${where}: ${e.name} has no shape`);
      return feature(e.name, e.adcode, e.cp, e.polygons);
    });
    features.sort(byAdcode);
    count(simplifyFeatures(features));
    writeCollection(join(outDir, `${code}.json`), features);
    provinceBox.set(code, bbox(features.flatMap((f) => polygonsOf(f.geometry))));
  }

  const countryFeatures = [];
  const seen = new Set();
  for (const { source, polygons } of readSource(join(pkgDir, 'map/json/china.json'))) {
    const adcode = String(source.id ?? source.properties?.id);
    const name = fullName.get(adcode);
    if (!name) fail(`china.json: unknown code ${adcode}`);
    if (seen.has(adcode)) fail(`china.json: ${adcode} twice`);
    seen.add(adcode);
    const polygonsClean = cleanPolygons(polygons, `china.json ${adcode}`);
    if (polygonsClean.length === 0) fail(`china.json: ${adcode} has no shape`);
    countryFeatures.push(feature(name, adcode, source.properties?.cp, polygonsClean));
  }
  for (const code of fullName.keys()) if (!seen.has(code)) fail(`china.json: ${code} missing`);
  countryFeatures.sort(byAdcode);
  count(simplifyFeatures(countryFeatures));
  writeCollection(join(outDir, '100000.json'), countryFeatures);

  // Cross-check of two separately encoded sources: each province's outline in
  // china.json must frame its divisions from province/*.json (coastal islands
  // missing from the coarser outline make up the tolerance).
  const TOLERANCE = 0.25; // degrees
  for (const f of countryFeatures) {
    if (CROSS_CHECK_EXEMPT.has(f.properties.adcode)) continue;
    const outer = bbox(polygonsOf(f.geometry));
    const inner = provinceBox.get(f.properties.adcode);
    const off = Math.max(outer[0] - inner[0], outer[1] - inner[1], inner[2] - outer[2], inner[3] - outer[3]);
    if (off > TOLERANCE) {
      fail(`${f.properties.name}: divisions reach ${off.toFixed(3)}° beyond the province outline`);
    }
  }
  console.log(`vendor-maps: ${PROVINCES.length + 1} files, ${vertices.before} vertices simplified to ${vertices.after}`);
}

function polygonsOf(geometry) {
  return geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
}

main();

// SVG elements for the pictures, built like `h` builds HTML: attributes as an object, children after.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] false/null/undefined are left out
 * @param {...(Node | string | null | undefined | false | (Node | string | null | undefined | false)[])} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** A number of pixels with at most two decimals, so attributes stay short. @param {number} n */
export const px = (n) => Math.round(n * 100) / 100;

/**
 * A diagonal hatch pattern (the gate waits, the failures): colour alone would not tell them apart.
 * @param {string} id @param {string} stroke @param {string} fill
 */
export function hatch(id, stroke, fill) {
  return s(
    'pattern',
    { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    s('rect', { width: 6, height: 6, fill }),
    s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke, 'stroke-width': 3 }),
  );
}

/** The ids of the patterns of one picture, unique on the page (two pictures may show at once). */
let nextId = 0;
export const uniqueId = (/** @type {string} */ prefix) => `${prefix}-${++nextId}`;

/**
 * A round step for an axis: the smallest of `steps` that cuts `span` into at most `most` parts.
 * @param {number} span @param {readonly number[]} steps @param {number} most
 */
export function niceStep(span, steps, most) {
  const found = steps.find((step) => span / step <= most);
  if (found !== undefined) return found;
  let step = /** @type {number} */ (steps.at(-1));
  while (span / step > most) step *= 2;
  return step;
}

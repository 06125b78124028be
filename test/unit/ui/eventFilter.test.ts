import test from 'ava';

/** The page's own module (plain JS served to the browser), loaded as the browser loads it. */
const load = async () =>
  (await import(`${'../../../src/ui/eventFilter.js'}`)) as {
    parseFilter(text: string): Record<string, string>;
  };

test('the event filter: words match the message, field:value the fields, a quoted value may hold spaces', async (t) => {
  const { parseFilter } = await load();
  t.deepEqual(parseFilter('gate type:gate_approved actor:alice'), {
    type: 'gate_approved',
    actor: 'alice',
    q: 'gate',
  });
  t.deepEqual(parseFilter('actor:"Alice Smith" approved'), { actor: 'Alice Smith', q: 'approved' });
  t.deepEqual(parseFilter('stage:"render final"'), { stage: 'render final' });
  // not a field: the words stay words, quotes and all
  t.deepEqual(parseFilter('colour:"dark red" x'), { q: 'colour:"dark red" x' });
  t.deepEqual(parseFilter('   '), {});
});

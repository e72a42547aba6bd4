/** Column-name tokens, canonical forms, similarity and identifiers. */
import { canonicalName, levenshtein, nameSimilarity, nameTokens, toIdentifier } from '../../common/names';
import { RENAME_SIMILARITY } from '../../core/etl/drift';

describe('nameTokens / canonicalName', () => {
  it.each([
    ['netGeneration', ['net', 'generation']],
    ['net_generation', ['net', 'generation']],
    ['NetGeneration', ['net', 'generation']],
    ['NET_GENERATION', ['net', 'generation']],
    ['net-generation', ['net', 'generation']],
    ['Net Generation', ['net', 'generation']],
    ['"Net Generation"', ['net', 'generation']],
    ['  net   generation (MW) ', ['net', 'generation', 'mw']],
    ['HTTPStatus', ['http', 'status']],
    ['userID', ['user', 'id']],
    ['address2', ['address2']],
    ['', []],
  ])('%j -> %j', (name, tokens) => {
    expect(nameTokens(name)).toEqual(tokens);
    expect(canonicalName(name)).toBe(tokens.join('_'));
  });
});

describe('nameSimilarity', () => {
  it.each([
    ['netGeneration', 'net_generation'],
    ['NET_GENERATION', 'net_generation'],
    ['Net Generation', 'net_generation'],
    ['"Net Generation"', 'netGeneration'],
    ['userID', 'user_id'],
  ])('%j and %j are the same name re-cased or re-separated: 1', (a, b) => {
    expect(nameSimilarity(a, b)).toBe(1);
    expect(nameSimilarity(b, a)).toBe(1);
  });

  it.each([
    ['qty', 'quantity'],
    ['amt', 'amount'],
    ['addr', 'address'],
    ['cust_id', 'customer_id'],
    ['net_gen', 'net_generation'],
    ['pop', 'population'],
    ['desc', 'description'],
    ['dob', 'date_of_birth'],
  ])('the abbreviation %j of %j scores at least the rename threshold, below an exact match', (a, b) => {
    const s = nameSimilarity(a, b);
    expect(s).toBeGreaterThanOrEqual(RENAME_SIMILARITY);
    expect(s).toBeLessThan(1);
    expect(nameSimilarity(b, a)).toBe(s);
  });

  it('a one-token edit scores higher than an abbreviation of one token', () => {
    expect(nameSimilarity('cust_id', 'customer_id')).toBeGreaterThan(nameSimilarity('qty', 'quantity'));
  });

  it.each([
    ['income', 'population'],
    ['country', 'region'],
    ['year', 'source'],
    ['origin', 'destination'],
    ['count', 'origin'],
    ['id', 'name'],
    ['amount', 'price'],
  ])('unrelated %j and %j score below the rename threshold', (a, b) => {
    expect(nameSimilarity(a, b)).toBeLessThan(RENAME_SIMILARITY);
  });

  it('is in [0, 1] for odd input', () => {
    for (const [a, b] of [
      ['', ''],
      ['', 'x'],
      ['!!!', '???'],
      ['a', 'b'],
    ] as const) {
      const s = nameSimilarity(a, b);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
  });
});

describe('levenshtein', () => {
  it('counts edits', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('abc', 'abc')).toBe(0);
  });
});

describe('toIdentifier', () => {
  it('snake_cases headers', () => {
    expect(toIdentifier('Net Generation')).toBe('net_generation');
    expect(toIdentifier('netGeneration')).toBe('net_generation');
    expect(toIdentifier('Size (m²)')).toBe('size_m');
  });

  it('prefixes a leading digit', () => {
    expect(toIdentifier('2019 Sales')).toBe('c_2019_sales');
    expect(toIdentifier('1')).toBe('c_1');
  });

  it('names a header with no letters or digits "column"', () => {
    expect(toIdentifier('')).toBe('column');
    expect(toIdentifier('!!!')).toBe('column');
  });

  it('deduplicates against taken names, case-insensitively', () => {
    expect(toIdentifier('Net Generation', new Set(['net_generation']))).toBe('net_generation_2');
    expect(toIdentifier('NET GENERATION', new Set(['net_generation', 'net_generation_2']))).toBe('net_generation_3');
    expect(toIdentifier('column', new Set(['column']))).toBe('column_2');
  });

  it('always returns a valid SQL identifier of at most 63 characters', () => {
    const valid = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
    const long = 'x'.repeat(100);
    expect(toIdentifier(long)).toMatch(valid);
    expect(toIdentifier(long, new Set(['x'.repeat(60)]))).toMatch(valid);
    for (const h of ['"; DROP TABLE x; --', 'a\nb', '9lives', 'É', '__']) expect(toIdentifier(h)).toMatch(valid);
  });
});

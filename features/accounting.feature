@accounting
Feature: Usage reports, pricing and invoices
  Nodes post usage journals (TioXML). The master prices each movement with
  the computer's price list and invoices it to the person whose instance used
  the partition. A journal posted twice is counted once; a malformed journal
  is refused with a clear error and records nothing.

  Background:
    Given a person "alice"
    And a person "bob"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions and:
      | currency       | EUR   |
      | price hosting  | 0.5   |
      | price cpu_time | 0.001 |
    And a computer "COMP-2" of "alice" with 1 partition
    And "alice" supplies "hello" on "COMP-1"
    And "bob" requests "web" of "hello"
    And the nodes converge within 10 minutes
    And "web" is allocated on "COMP-1" partition "slappart0"

  @determinism
  Scenario: A usage journal is priced with the computer's prices and invoiced to the instance's owner
    When node "COMP-1" posts a usage journal for "2026-01-01" to "2026-01-02" with:
      | partition | resource | quantity |
      | slappart0 | cpu_time | 3600     |
    Then it succeeds
    And 1 usage movement was recorded
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has a "cpu_time" line of 3600 s costing 3.6 EUR
    And the invoice of "alice" from "2026-01-01" to "2026-02-01" has no "cpu_time" line

  Scenario: The same journal posted twice is counted once
    Given node "COMP-1" posts a usage journal for "2026-01-01" to "2026-01-02" with:
      | partition | resource | quantity |
      | slappart0 | cpu_time | 3600     |
    When node "COMP-1" posts a usage journal for "2026-01-01" to "2026-01-02" with:
      | partition | resource | quantity |
      | slappart0 | cpu_time | 3600     |
    Then it succeeds
    And the journal was recognised as already recorded
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has a "cpu_time" line of 3600 s costing 3.6 EUR

  Scenario: A journal that is not well-formed XML is refused and records nothing
    When node "COMP-1" posts the usage journal:
      """
      <?xml version="1.0" encoding="UTF-8"?>
      <journal>
        <transaction type="Sale Packing List">
          <start_date>2026-01-01</start_date>
          <stop_date>2026-01-02</stop_date>
          <reference>COMP-1</reference>
          <currency>EUR</currency>
          <payment_mode></payment_mode>
          <arrow type="Administration"></arrow>
          <movement>
            <resource>cpu_time</resource>
            <reference>slappart0</reference>
            <quantity>3600</quantity>
            <price>0</price>
            <VAT></VAT>
        </transaction>
      </journal>
      """
    Then it fails as invalid input mentioning "line"
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has no "cpu_time" line

  Scenario: A journal with a quantity that is not a number is refused, naming the movement and field
    When node "COMP-1" posts the usage journal:
      """
      <?xml version="1.0" encoding="UTF-8"?>
      <journal>
        <transaction type="Sale Packing List">
          <start_date>2026-01-01</start_date>
          <stop_date>2026-01-02</stop_date>
          <reference>COMP-1</reference>
          <currency>EUR</currency>
          <payment_mode></payment_mode>
          <arrow type="Administration"></arrow>
          <movement>
            <resource>cpu_time</resource>
            <reference>slappart0</reference>
            <quantity>3600</quantity>
            <price>0</price>
            <VAT></VAT>
          </movement>
          <movement>
            <resource>memory_used</resource>
            <reference>slappart0</reference>
            <quantity>lots</quantity>
            <price>0</price>
            <VAT></VAT>
          </movement>
        </transaction>
      </journal>
      """
    Then it fails as invalid input mentioning "movement 2"
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has no "cpu_time" line

  Scenario: A journal naming a partition the computer does not have is refused
    When node "COMP-1" posts a usage journal for "2026-01-01" to "2026-01-02" with:
      | partition | resource | quantity |
      | slappart0 | cpu_time | 10       |
      | slappart9 | cpu_time | 10       |
    Then it fails as invalid input mentioning "slappart9"
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has no "cpu_time" line

  Scenario: A computer cannot report the usage of another computer
    When node "COMP-2" posts a usage journal of "COMP-1" for "2026-01-01" to "2026-01-02" with:
      | partition | resource | quantity |
      | slappart0 | cpu_time | 3600     |
    Then it fails as refused
    And the invoice of "bob" from "2026-01-01" to "2026-02-01" has no "cpu_time" line

  Scenario: A person reads only its own invoices
    When "alice" reads the invoices of "bob" from "2026-01-01" to "2026-02-01"
    Then it fails as refused
    When "bob" reads the invoices of "bob" from "2026-01-01" to "2026-02-01"
    Then it succeeds

  @sim-only @virtual-time
  Scenario: Hosting is billed by the hour while the instance is started, and not while it is stopped
    When 10 hours pass
    Then the invoice of "bob" from "2026-01-01" to "2026-02-01" has a "hosting" line costing between 4.95 and 5.05 EUR
    When "bob" stops "web"
    And the nodes converge within 5 minutes
    And 10 hours pass
    Then the invoice of "bob" from "2026-01-01" to "2026-02-01" has a "hosting" line costing between 4.95 and 5.1 EUR

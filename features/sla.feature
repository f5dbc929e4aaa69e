@sla
Feature: Placement by SLA conditions
  The master is a marketplace: a request is placed automatically on a
  computer that meets its conditions (region, computer, price, network,
  attributes). A request no computer can take stays pending with the reason,
  and is placed as soon as capacity appears. Unknown conditions are an
  error, never silently ignored.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-EU" of "alice" with 2 partitions and:
      | region        | eu    |
      | network       | net-a |
      | currency      | EUR   |
      | price hosting | 0.5   |
      | attr disk     | ssd   |
    And a computer "COMP-JP" of "alice" with 2 partitions and:
      | region        | jp    |
      | network       | net-b |
      | currency      | EUR   |
      | price hosting | 2     |
    And "alice" supplies "hello" on "COMP-EU"
    And "alice" supplies "hello" on "COMP-JP"

  Scenario: A region condition places the instance in that region
    When "alice" requests "web" of "hello" with:
      | sla region | jp |
    Then "web" is allocated on "COMP-JP"
    When the nodes converge within 10 minutes
    Then "web" is reported started

  Scenario: A computer condition pins the instance to that computer
    When "alice" requests "web" of "hello" with:
      | sla computer_guid | COMP-JP |
    Then "web" is allocated on "COMP-JP"

  Scenario: A computer condition naming an unknown computer waits with the reason
    When "alice" requests "web" of "hello" with:
      | sla computer_guid | COMP-XX |
    Then "web" is pending with a reason mentioning "no such computer"

  Scenario: A price ceiling keeps instances off dearer computers
    When "alice" requests 3 instances of "hello" titled "cheap" with:
      | sla max_price | 1 |
    Then "cheap-1" is allocated on "COMP-EU"
    And "cheap-2" is allocated on "COMP-EU"
    And "cheap-3" is pending with a reason mentioning "price>1"

  Scenario: An attribute condition matches the computer's attributes
    When "alice" requests "fast" of "hello" with:
      | sla attr.disk | ssd |
    Then "fast" is allocated on "COMP-EU"
    When "alice" requests "gpu" of "hello" with:
      | sla attr.gpu | yes |
    Then "gpu" is pending with a reason mentioning "attr.gpu"

  Scenario: Unique by network spreads a tree over different networks
    Given "alice" requests "web" of "hello" with:
      | sla computer_guid | COMP-EU |
    When instance "web" requests "replica" of "hello" with:
      | sla unique_by_network | true |
    Then "replica" is allocated on "COMP-JP"
    When instance "web" requests "third" of "hello" with:
      | sla unique_by_network | true |
    Then "third" is pending with a reason mentioning "network used by tree"

  @determinism
  Scenario: A request no computer can take waits with the reason and is placed when capacity appears
    When "alice" requests "web" of "hello" with:
      | sla region | us |
    Then "web" is pending with a reason mentioning "region!=us"
    And the pending requests include "web"
    Given a computer "COMP-US" of "alice" with 1 partition and:
      | region | us |
    When "alice" supplies "hello" on "COMP-US"
    Then "web" is allocated on "COMP-US"
    When the nodes converge within 10 minutes
    Then "web" is reported started

  Scenario: A request waits for a free partition and takes the one freed
    Given "alice" requests 4 instances of "hello" titled "app"
    When "alice" requests "late" of "hello"
    Then "late" is pending with a reason mentioning "no free partition"
    When the nodes converge within 10 minutes
    And "alice" destroys "app-1"
    And the nodes converge within 10 minutes
    Then "late" is allocated on "COMP-EU"
    And "late" is reported started

  Scenario: A closed computer takes only its owner's pinned requests
    Given a person "bob"
    And a computer "COMP-PRIV" of "bob" with 1 partition and:
      | scope  | closed |
      | region | ch     |
    And "bob" supplies "hello" on "COMP-PRIV"
    When "alice" requests "web" of "hello" with:
      | sla region | ch |
    Then "web" is pending with a reason mentioning "closed scope"
    When "bob" requests "own" of "hello" with:
      | sla computer_guid | COMP-PRIV |
    Then "own" is allocated on "COMP-PRIV"
